"""Running kernel IR on torch tensors: one step per top-level op of the entry function.

A ``kernel.fused`` op runs its generated Triton kernel when codegen has one for it (on the GPU, or on
the CPU under Triton's interpreter), and otherwise its ops' reference semantics on the host, which
the engine reports. Constants become device tensors once, when the engine is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tritium.codegen import kernel_for
from tritium.ir.core import Operation, Value
from tritium.ir.diagnostics import TritiumError
from tritium.ir.dialects.kernel import Fused
from tritium.ir.dialects.nn.constant import Constant
from tritium.ir.interpreter import Interpreter
from tritium.ir.opdef import Terminator
from tritium.ir.types import TensorType


class ExecutionError(TritiumError):
    pass


def torch_dtype(dt: Any) -> Any:
    import torch

    return torch.from_numpy(np.zeros(0, dt.np_dtype)).dtype if dt.name not in ("bf16",) else torch.bfloat16


def to_torch(arr: np.ndarray, device: Any) -> Any:
    import torch

    if arr.dtype.name == "bfloat16":
        return torch.from_numpy(np.ascontiguousarray(arr).view(np.int16)).view(torch.bfloat16).to(device)
    return torch.from_numpy(np.array(arr, copy=True)).to(device)


def to_numpy(t: Any) -> np.ndarray:
    import torch

    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:
        import ml_dtypes

        return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return t.numpy()


@dataclass
class Step:
    op: Operation
    kernel: Any | None  # a generated kernel, or None: host reference
    inputs: list[Value]
    outputs: list[Value]

    @property
    def name(self) -> str:
        names = getattr(self.op.loc, "names", None)
        return names[0] if names else self.op.name

    @property
    def on_host(self) -> bool:
        return self.kernel is None


class Executor:
    def __init__(self, module: Any, device: str) -> None:
        import torch

        self.module = module
        self.func = module.main
        self.device = torch.device(device)
        self.constants: dict[Value, Any] = {}
        self.steps: list[Step] = []
        self._interp = Interpreter(module)
        for op in self.func.block.ops:
            if Terminator in op.TRAITS:
                continue
            if isinstance(op, Constant):
                arr = op.value_array()
                if arr is None:
                    raise ExecutionError(f"{op.describe()}: weight '{op.value.name}' has no data")  # type: ignore[union-attr]
                self.constants[op.out] = to_torch(arr, self.device)
                continue
            kernel = kernel_for(op) if isinstance(op, Fused) else None
            self.steps.append(Step(op, kernel, list(op.operands), list(op.results)))

    def run(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        env: dict[Value, Any] = dict(self.constants)
        for name, arg in zip(self.func.input_names or [], self.func.args):
            env[arg] = inputs[name]
        for step in self.steps:
            args = [env[v] for v in step.inputs]
            outs = self.run_step(step, args)
            for v, t in zip(step.outputs, outs):
                env[v] = t
        results = [env[v] for v in self.func.return_op.operands]
        return dict(zip(self.func.output_names or [f"output_{i}" for i in range(len(results))], results))

    def run_step(self, step: Step, args: list[Any]) -> list[Any]:
        import torch

        if step.kernel is not None:
            args = [a.contiguous() for a in args]
            shapes = [self._out_shape(v, args) for v in step.outputs]
            outs = [
                torch.empty(s, dtype=torch_dtype(v.type.dtype), device=self.device)  # type: ignore[attr-defined]
                for s, v in zip(shapes, step.outputs)
            ]
            try:
                step.kernel(args, outs)
            except Exception as e:
                raise ExecutionError(
                    f"{step.op.describe()}: generated kernel '{step.kernel.name}' failed: "
                    f"{type(e).__name__}: {e}"
                ) from e
            return outs
        vals = [to_numpy(a) for a in args]
        results = self._interp.eval_op(step.op, vals, {})
        return [to_torch(np.asarray(r), self.device) for r in results]

    @staticmethod
    def _out_shape(v: Value, args: list[Any]) -> tuple[int, ...]:
        t = v.type
        assert isinstance(t, TensorType)
        if t.is_static:
            return tuple(t.shape)  # type: ignore[arg-type]
        # Elementwise kernels: the broadcast of the inputs' run-time shapes.
        return tuple(np.broadcast_shapes(*[tuple(a.shape) for a in args]))
