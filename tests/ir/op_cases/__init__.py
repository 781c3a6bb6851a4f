"""Executable cases for every registered op, one module per op family (each defines ``CASES``).

A case is IR text, a random-input generator and an independent oracle (torch or plain numpy
arithmetic, never the op's own reference). ``tests/ir/test_op_registry.py`` checks that every
registered op has one, that it round-trips, and that the reference interpreter matches the oracle.
"""

import importlib
import pkgutil

from tests.ir.op_cases.base import OpCase

CASES: dict[str, list[OpCase]] = {}
for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name == "base":
        continue
    _mod = importlib.import_module(f"{__name__}.{_info.name}")
    for _name, _cases in _mod.CASES.items():
        CASES.setdefault(_name, []).extend(_cases)
