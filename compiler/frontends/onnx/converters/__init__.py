"""ONNX converters, one module per op family. Importing this package imports (registers) them all."""

import importlib
import pkgutil

for _info in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_info.name}")
