"""The reference backend: an Engine-like callable over the numpy interpreter.

It is what ``tritium.compile(model, backend="reference")`` returns, and the ground truth the other
backends are compared with. Inputs may be numpy arrays, torch tensors, DLPack objects or nested
lists; outputs come back as numpy arrays (as torch tensors when the inputs were torch tensors).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tritium.ir.diagnostics import TritiumError
from tritium.ir.interpreter import Interpreter
from tritium.ir.types import OptionalType, SequenceType, TensorType, Type
from tritium.runtime import program


class InputError(TritiumError):
    pass


def to_numpy(x: Any, name: str) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    mod = type(x).__module__
    if mod.startswith("torch"):
        return program.to_numpy(x)
    if hasattr(x, "__dlpack__"):
        return np.from_dlpack(x)
    try:
        return np.asarray(x)
    except Exception as e:
        raise InputError(f"input '{name}': cannot read a {type(x).__name__} as an array ({e})") from None


class ReferenceEngine:
    def __init__(self, module: Any) -> None:
        self.module = module
        self.func = module.main
        self.input_names: list[str] = self.func.arg_names
        self.output_names: list[str] = self.func.result_names
        self._interp = Interpreter(module)

    @property
    def input_types(self) -> dict[str, Type]:
        return dict(zip(self.input_names, self.func.function_type.inputs))

    @property
    def output_types(self) -> dict[str, Type]:
        return dict(zip(self.output_names, self.func.function_type.outputs))

    def __call__(self, inputs: Mapping[str, Any] | Sequence[Any] | Any) -> dict[str, Any]:
        if not isinstance(inputs, Mapping):
            if isinstance(inputs, np.ndarray) or not isinstance(inputs, Sequence):
                inputs = [inputs]
            if len(inputs) != len(self.input_names):
                raise InputError(
                    f"expected {len(self.input_names)} inputs {self.input_names}, got {len(inputs)}"
                )
            inputs = dict(zip(self.input_names, inputs))
        as_torch = any(type(v).__module__.startswith("torch") for v in inputs.values())
        arrays = {}
        for name, v in inputs.items():
            t = self.input_types.get(name)
            if isinstance(
                t, (SequenceType, OptionalType)
            ):  # lists of tensors and empty optionals stay as they are
                inner = t.element if isinstance(t, OptionalType) else t
                if v is None:
                    arrays[name] = None
                elif isinstance(inner, SequenceType):
                    arrays[name] = [to_numpy(e, name) for e in v]
                else:
                    arrays[name] = to_numpy(v, name)
                continue
            arr = to_numpy(v, name)
            t = self.input_types.get(name)
            if (
                isinstance(t, TensorType)
                and arr.dtype != t.dtype.np_dtype
                and arr.dtype.kind == t.dtype.np_dtype.kind
                and not isinstance(v, np.ndarray)
            ):
                arr = arr.astype(t.dtype.np_dtype)  # Python lists: take the declared width
            arrays[name] = arr
        outs = self._interp.run_named(arrays, self.func)
        if as_torch:
            return {k: program.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in outs.items()}
        return outs

    run = __call__
