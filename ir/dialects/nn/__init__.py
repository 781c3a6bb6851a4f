"""The nn dialect: graph-level tensor ops with ONNX-like, normalized semantics (DESIGN.md section 4).

Every attribute is explicit and each op has one form: frontends resolve opset differences, defaults
and auto-padding before building these ops. Ops live in one module per family; every module of this
package is imported here and its op classes are exported (``nn.Conv``, ``nn.Softmax``, ...).
"""

import importlib as _importlib
import pkgutil as _pkgutil

from tritium.ir.opdef import Op as _Op

__all__: list[str] = []
for _info in sorted(_pkgutil.iter_modules(__path__), key=lambda m: m.name):
    _mod = _importlib.import_module(f"{__name__}.{_info.name}")
    for _name, _obj in vars(_mod).items():
        if isinstance(_obj, type) and issubclass(_obj, _Op) and _obj.__module__ == _mod.__name__:
            globals()[_name] = _obj
            __all__.append(_name)
