"""The Triton backend's engine: kernel IR, generated kernels, and a callable door.

``tritium.compile(model, backend="triton")`` optimizes the module into kernel IR and wraps it here.
Inputs may be numpy arrays or torch tensors; outputs come back as the same kind. On a machine
without a GPU the generated kernels run under Triton's interpreter, so the whole path is testable
on the CPU.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tritium.codegen.triton_env import ensure_mode, use_interpreter
from tritium.runtime.executor import Executor, to_numpy
from tritium.runtime.reference import InputError
from tritium.runtime.reference import to_numpy as any_to_numpy


class Engine:
    def __init__(self, module: Any, device: str | None = None) -> None:
        ensure_mode()
        self.module = module
        self.device = device or ("cpu" if use_interpreter() else "cuda")
        self.executor = Executor(module, self.device)
        f = module.main
        self.input_names: list[str] = list(f.input_names or [])
        self.output_names: list[str] = list(f.output_names or [])

    def __call__(self, inputs: Mapping[str, Any] | Sequence[Any]) -> dict[str, Any]:
        import torch

        if not isinstance(inputs, Mapping):
            inputs = dict(zip(self.input_names, inputs))
        missing = [n for n in self.input_names if n not in inputs]
        if missing:
            raise InputError(f"missing inputs {missing}; the engine takes {self.input_names}")
        as_torch = any(isinstance(v, torch.Tensor) for v in inputs.values())
        tensors = {}
        for name in self.input_names:
            v = inputs[name]
            t = (
                v
                if isinstance(v, torch.Tensor)
                else torch.from_numpy(np.ascontiguousarray(any_to_numpy(v, name)))
            )
            tensors[name] = t.to(self.executor.device)
        outs = self.executor.run(tensors)
        if as_torch:
            return outs
        return {k: to_numpy(v) for k, v in outs.items()}

    def host_steps(self) -> list[str]:
        """The kernels that run on the host reference (no generated kernel yet)."""
        return [s.name for s in self.executor.steps if s.on_host]
