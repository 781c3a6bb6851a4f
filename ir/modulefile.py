"""Module files: the IR text in ``NAME.tir`` and its weights beside it in ``NAME.tir.weights``.

The text is what a researcher reads and edits; the weights file is the safe container of
``ir/weights.py`` (no pickle), memory-mapped on load.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tritium.ir.parser import parse_ir
from tritium.ir.printer import print_ir
from tritium.ir.weights import load_tensors, save_tensors


def weights_path(path: str | os.PathLike) -> Path:
    return Path(str(path) + ".weights")


def save_module(module: Any, path: str | os.PathLike) -> None:
    """Write the text, and the weights file when the module has resources."""
    Path(path).write_text(print_ir(module))
    wp = weights_path(path)
    if module.resources:
        save_tensors(wp, module.resources)
    elif wp.exists():
        wp.unlink()


def load_module(path: str | os.PathLike, verify_checksums: bool = True) -> Any:
    """Parse ``path`` and attach the weights from its side file when there is one."""
    module = parse_ir(Path(path).read_text(), str(path))
    wp = weights_path(path)
    if wp.exists():
        tensors, _ = load_tensors(wp, verify=verify_checksums)
        module.resources.update(tensors)
    return module
