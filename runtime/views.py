"""Strided views: data-movement kernels that the runtime does not launch.

Some kernels address their tensors by strides (attention: any strides, unit stride on the last
axis). A transpose, slice or split whose results only such kernels read — directly or through
reshapes — is then a view of its input (torch's permute, narrow, split): no copy. The head split of
attention (``reshape -> transpose``) and the Q/K/V parts of a merged projection (``slice`` or
``split`` of one GEMM result) become views this way.

The other direction: a transpose whose input is written by a kernel with strided outputs, and read
by nothing else, makes that kernel write in the transposed layout; the transpose is then a view too.
Attention writes ``[B, S, H, D]`` directly, and the head merge after it costs nothing.

And a 2-D transpose read only as the right-hand operand of GEMMs (GPT-2's LM head multiplies by
the transposed embedding table) is a view: the GEMM template reads that operand through its strides.

Last, engine outputs with unaligned rows (GPT-2's 50257 logits: rows of 100514 bytes) that a GEMM
writes get rows padded to a multiple of 16 elements, as torch.compile's outputs have: the GEMM's
stores are then 16-byte vectors (``padded_outputs``). The caller sees a tensor of the output's shape
whose rows are padded; ``ExecutionContext.get_tensor_strides`` tells the strides to bind.

Views alias their input in the memory plan (``plan_function(func, also_views)``), so the input
stays alive as long as they are read. Whatever the graph, the results are the same: a consumer
that needs a contiguous tensor copies it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tritium.ir.core import Operation, Value
from tritium.ir.dialects.kernel import Fused
from tritium.ir.dialects.nn.constant import Constant
from tritium.ir.opdef import constant_value
from tritium.ir.types import TensorType
from tritium.passes.fusion_policy import GEMM_ANCHORS

STRIDED_READERS = ("attention",)
"""Kernel kinds whose generated code reads every tensor operand through its strides."""
STRIDED_WRITERS = ("attention",)
"""Kernel kinds whose generated code writes its result through its strides."""


@dataclass(frozen=True)
class StridedView:
    """How a view step makes its results from its input tensor."""

    kind: str  # "permute", "slice" or "split"
    perm: tuple[int, ...] = ()
    slices: tuple[tuple[int, int, int], ...] = ()  # (axis, start, length)
    axis: int = 0
    sizes: tuple[int, ...] = ()

    def __call__(self, x: Any) -> list[Any]:
        if self.kind == "permute":
            return [x.permute(*self.perm)]
        if self.kind == "slice":
            for axis, start, length in self.slices:
                x = x.narrow(axis, start, length)
            return [x]
        return list(x.split(list(self.sizes), dim=self.axis))

    def __str__(self) -> str:
        if self.kind == "permute":
            return f"permute{self.perm}"
        if self.kind == "slice":
            return "narrow " + ", ".join(f"axis {a} [{s}:{s + n}]" for a, s, n in self.slices)
        return f"split axis {self.axis} into {list(self.sizes)}"


def _body(op: Fused) -> Operation | None:
    """The one data-movement op of a group (constants aside) when it reads the group's first input."""
    body = [o for o in op.ops if not isinstance(o, Constant)]
    if op.kind != "data_movement" or len(body) != 1:
        return None
    inner = body[0]
    if not inner.operands or inner.operand(0) is not op.body.block.args[0]:
        return None
    if list(op.yield_op().operands) != list(inner.results):
        return None
    return inner


def _static(*values: Value) -> bool:
    return all(isinstance(v.type, TensorType) and v.type.is_static for v in values)


def _view_of(op: Fused) -> StridedView | None:
    """The view that computes ``op``'s results from its first input, when the op is one."""
    inner = _body(op)
    if inner is None:
        return None
    if inner.name == "nn.transpose":
        perm = tuple(inner.attributes["perm"])
        return StridedView("permute", perm=perm) if perm else None
    if not _static(op.operand(0), *op.results):
        return None
    shape = op.operand(0).type.shape  # type: ignore[attr-defined]
    if inner.name == "nn.split":
        axis = inner.attributes.get("axis", 0) % len(shape)
        sizes = tuple(r.type.shape[axis] for r in op.results)  # type: ignore[attr-defined]
        return StridedView("split", axis=axis, sizes=sizes)
    if inner.name == "nn.slice":
        return _slice_view(inner, shape, op.results[0].type.shape)  # type: ignore[attr-defined]
    return None


def _ints(v: Value | None) -> list[int] | None:
    c = constant_value(v) if v is not None else None
    return None if c is None else [int(x) for x in c.reshape(-1)]


def _slice_view(inner: Any, shape: tuple[int, ...], out: tuple[int, ...]) -> StridedView | None:
    starts, axes, steps = _ints(inner.starts), _ints(inner.axes), _ints(inner.steps)
    if starts is None or (inner.axes is not None and axes is None):
        return None
    if inner.steps is not None and (steps is None or any(s != 1 for s in steps)):
        return None
    axes = [a % len(shape) for a in axes] if axes is not None else list(range(len(starts)))
    slices = []
    for axis, start in zip(axes, starts):
        start = start + shape[axis] if start < 0 else start
        slices.append((axis, min(max(start, 0), shape[axis]), out[axis]))
    return StridedView("slice", slices=tuple(slices))


def find_views(func: Any) -> tuple[dict[Operation, StridedView], dict[Value, tuple[int, ...]]]:
    """The data-movement groups of ``func`` that run as views, and the kernel results to be written
    in a transposed layout (value -> the permutation its only reader applies)."""
    ops = [op for op in func.block.ops if isinstance(op, Fused)]
    returned = set(func.return_op.operands)
    views: dict[Operation, StridedView] = {}
    written: dict[Value, tuple[int, ...]] = {}

    def read_strided(v: Value) -> bool:
        if v in returned or not v.uses:
            return False
        for use in v.uses:
            user = use.op
            if not isinstance(user, Fused):
                return False
            if user.kind in STRIDED_READERS:
                continue
            if (user.kind == "view" or user in views) and all(read_strided(r) for r in user.results):
                continue
            return False
        return True

    for op in reversed(ops):  # readers before the views that feed them
        view = _view_of(op)
        if view is None:
            continue
        if view.kind == "permute" and view.perm[-1] != len(view.perm) - 1:  # the last axis moves
            if view.perm == (1, 0) and op.results[0] not in returned and read_as_gemm_b(op.results[0]):
                views[op] = view
            continue
        if all(read_strided(r) for r in op.results):
            views[op] = view
            continue
        src = op.operand(0)
        producer = src.defining_op
        if (
            view.kind == "permute"
            and isinstance(producer, Fused)
            and producer.kind in STRIDED_WRITERS
            and len(src.uses) == 1
            and src not in returned
            and _static(src)
        ):
            views[op] = view
            written[src] = view.perm
    return views, written


def read_as_gemm_b(v: Value) -> bool:
    """Every reader of the matrix ``v`` is a GEMM kernel that takes it as its right-hand operand,
    which the GEMM template reads through its strides (a transposed weight: K-major tiles)."""
    if not v.uses:
        return False
    for use in v.uses:
        user = use.op
        if not (isinstance(user, Fused) and user.kind == "matmul"):
            return False
        arg = user.body.block.args[use.index]
        mm = next((o for o in user.ops if o.name in GEMM_ANCHORS), None)
        if mm is None or mm.operand(1) is not arg or mm.operand(0) is arg:
            return False
    return True


def k_major(v: Value) -> bool:
    """Whether the runtime should hold the constant matrix ``v`` K-major (transposed in memory):
    when its rows are not 16-byte aligned (GPT-2's LM head: 50257 columns), the GEMM could not load
    them with vector loads, while its columns, K long, are aligned; and 8-bit weights (int8, float
    8), whose tensor core instructions on Hopper (wgmma) read 8-bit operands K-major only."""
    t = v.type
    if not (isinstance(t, TensorType) and t.is_static and t.rank == 2):
        return False
    k, n = t.shape  # type: ignore[misc]
    size = t.dtype.itemsize  # type: ignore[attr-defined]
    if size == 1:
        return (k * size) % 16 == 0 and read_as_gemm_b(v)
    return (n * size) % 16 != 0 and (k * size) % 16 == 0 and read_as_gemm_b(v)


PAD_ROWS_TO = 16  # elements: Triton takes integer arguments divisible by 16 as such (vector stores)


def padded_outputs(
    steps: list[Any], returned: list[Value], device: Any
) -> tuple[set[Value], dict[Value, int]]:
    """The engine outputs that GEMM kernels write over merged rows and nothing else reads, which
    accept any row stride (``codegen.gemm.row_stride``), and among them those given padded rows,
    with the padded row length: static ones of at least two rows of 256 elements or more whose
    bytes are not a multiple of 16. On a GPU; ``TRITIUM_PAD_OUTPUTS=0`` turns the padding off, ``=1`` on
    everywhere (the CPU's tests)."""
    import os

    from tritium.codegen.gemm import MatmulKernel

    setting = os.environ.get("TRITIUM_PAD_OUTPUTS")
    on = setting == "1" or (setting != "0" and getattr(device, "type", "") == "cuda")
    writers: set[Value] = set()
    padded: dict[Value, int] = {}
    for step in steps:
        if step.mode != "kernel" or not (isinstance(step.kernel, MatmulKernel) and step.kernel.fold):
            continue
        for v in step.outputs:
            if v not in returned or len(v.uses) != 1:  # (another kernel reading it takes it dense)
                continue
            writers.add(v)
            t = v.type
            if not (on and isinstance(t, TensorType) and t.is_static and t.rank >= 2):
                continue
            n, rows = t.shape[-1], int(np.prod(t.shape[:-1]))  # type: ignore[index, arg-type]
            if n >= 256 and rows >= 2 and (n * t.dtype.itemsize) % 16:  # type: ignore[attr-defined, operator]
                padded[v] = -(-n // PAD_ROWS_TO) * PAD_ROWS_TO  # type: ignore[operator]
    return writers, padded


def padded_empty(shape: tuple[int, ...], row: int, dtype: Any, device: Any) -> Any:
    """An uninitialized tensor of ``shape`` whose rows are ``row`` elements apart."""
    import torch

    rows = int(np.prod(shape[:-1]))
    return torch.empty(rows * row, dtype=dtype, device=device).view(rows, row)[:, : shape[-1]].view(shape)


def inverse(perm: tuple[int, ...]) -> tuple[int, ...]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)
