"""The one-liner door: ``tritium.compile(model)`` returns an engine you call with a dict of inputs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tritium.ir.diagnostics import TritiumError


def load_any(model: Any, name: str | None = None) -> Any:
    """A Module from an ONNX path/bytes/ModelProto, a .tir module file, or a Module."""
    from tritium.ir.dialects.builtin import ModuleOp

    if isinstance(model, ModuleOp):
        return model
    if isinstance(model, str | os.PathLike) and Path(model).suffix == ".tir":
        from tritium.ir.modulefile import load_module

        return load_module(model)
    from tritium.frontends.onnx import import_onnx

    return import_onnx(model, name)


def compile(model: Any, *, device: str = "cpu", backend: str = "reference", name: str | None = None) -> Any:
    """Compile ``model`` (ONNX path, bytes or ModelProto; a .tir file; or a Module) into an engine.

    ``backend="reference"`` runs the numpy reference semantics on the CPU: the ground truth the
    optimizing backend is checked against.
    """
    if backend != "reference":
        raise TritiumError(f"backend '{backend}' is not available yet; use backend='reference'")
    if device != "cpu":
        raise TritiumError(f"the reference backend runs on the CPU; device '{device}' is not supported")
    from tritium.runtime.reference import ReferenceEngine

    return ReferenceEngine(load_any(model, name))
