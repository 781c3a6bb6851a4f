"""Column kernels: one reduction over a block of axes that is followed by kept axes, such as global
average pooling of a channels-last [N, H, W, C] tensor over H and W.

The input is seen as [outer, R, inner] (R: the reduced axes, inner: the kept axes after them, which
are contiguous in memory). One program handles one outer index and BLOCK_I inner elements; it sweeps
R in BLOCK_R-row chunks, accumulating a [BLOCK_R, BLOCK_I] float32 tile that is reduced over its rows
at the end, so every load reads BLOCK_I consecutive elements. The elementwise prologue that computes
the input and the elementwise epilogue on the reduced values are fused, as in row kernels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tritium.codegen.float_math import fmax, fmin
from tritium.codegen.indexing import Space, Unsupported
from tritium.codegen.lowering import compute_type
from tritium.codegen.pointwise import kernel_name, kernel_source, lower_elementwise, namer
from tritium.codegen.reduction import IDENTITY, REDUCE, split_reduction
from tritium.codegen.triton_env import pdl_kwargs
from tritium.ir.core import Value
from tritium.ir.dialects.kernel import Fused
from tritium.ir.types import TensorType

TERM = {
    "sum": "{x}",
    "mean": "{x}",
    "max": "{x}",
    "min": "{x}",
    "sum_square": "{x} * {x}",
    "l1": "tl.abs({x})",
}
TERM |= {"l2": "{x} * {x}", "log_sum": "{x}"}
COMBINE = {  # max and min keep NaN, as numpy's do (Triton's drop it)
    "max": fmax("acc", "{t}"),
    "min": fmin("acc", "{t}"),
}
FINAL = {"max": "tl.reduce(acc, 0, max_with_nan)", "min": "tl.reduce(acc, 0, min_with_nan)"}
AFTER = {"mean": "res = res / R", "l2": "res = tl.sqrt(res)", "log_sum": "res = tl.log(res)"}
RESERVED = {"tl", "triton", "row", "cols", "imask", "rr", "mask", "start", "R", "I", "acc", "res"}


def _shape(v: Value) -> tuple[int, ...]:
    t = v.type
    if not isinstance(t, TensorType) or not t.is_static:
        raise Unsupported(f"column reductions need static shapes, found {t}")
    return tuple(t.shape)  # type: ignore[arg-type]


def column_axes(axes: tuple[int, ...], rank: int) -> bool:
    """Whether a reduction over ``axes`` is a column reduction: one block of axes, kept axes after it."""
    return bool(axes) and list(axes) == list(range(axes[0], axes[-1] + 1)) and axes[-1] < rank - 1


class ColumnKernel:
    kind = "column"

    def __init__(self, fused: Fused) -> None:
        self.fused = fused
        body, a = split_reduction(fused, lambda name: REDUCE.get(name) in TERM)  # sum/mean/max/min-like
        self.anchor = a
        self.reduce = REDUCE[a.name]
        if not a.operand(0).type.dtype.is_float:  # type: ignore[attr-defined]
            raise Unsupported("reductions of non-float tensors run on the host")
        self.x_shape = _shape(a.operand(0))
        rank = len(self.x_shape)
        axes = a.static_axes()  # type: ignore[attr-defined]
        axes = tuple(sorted(int(x) % rank for x in axes)) if axes is not None else ()
        if not column_axes(axes, rank):
            raise Unsupported(f"reduction over axes {axes} of a rank-{rank} tensor is not a column reduction")
        self.outer, self.red = list(range(axes[0])), list(axes)
        self.inner = list(range(axes[-1] + 1, rank))
        self.y_shape = _shape(a.results[0])
        pos = body.index(a)
        self.prologue, self.epilogue = body[:pos], body[pos + 1 :]
        self.name = kernel_name(fused)
        self.source = self._generate()
        self._fn: Any = None

    def _generate(self) -> str:
        args = list(self.fused.body.block.args)
        in_epilogue = {v for op in self.epilogue for v in op.operands}
        in_x = {v for op in [*self.prologue, self.anchor] for v in op.operands}
        self.x_args = [v for v in args if v in in_x or v not in in_epilogue]
        self.y_args = [v for v in args if v not in self.x_args]
        self.xs = Space(
            self.x_shape,
            [("o", self.outer), ("c", self.red), ("i", self.inner)],
            [_shape(v) for v in self.x_args],
        )
        n_yo = len(self.y_shape) - len(self.inner)  # outer dims, and the reduced ones when kept (size 1)
        self.ys = Space(
            self.y_shape,
            [("yo", list(range(n_yo))), ("yi", list(range(n_yo, len(self.y_shape))))],
            [_shape(v) for v in self.y_args],
        )
        names: dict[Value, str] = {}
        fresh = namer(names, set(RESERVED))

        for i, v in enumerate(args):
            fresh(v, f"x{i}")
        params = [f"in{i}_ptr" for i in range(len(args))] + [
            f"out{i}_ptr" for i in range(len(self.fused.results))
        ]
        params += ["R", "I"]
        for seg, prefix in ((0, "o"), (1, "c"), (2, "i")):
            params += self.xs.size_params(seg, prefix)
        params += self.ys.size_params(0, "yo") + self.ys.size_params(1, "yi")
        lines = [
            "    row = tl.program_id(0).to(tl.int64)",
            "    cols = tl.program_id(1) * BLOCK_I + tl.arange(0, BLOCK_I)",
            "    imask = cols < I",
            "    icols = cols[None, :]",
        ]
        lines += ["    " + ln for ln in self.xs.decompose(0, "row", "o") + self.xs.decompose(2, "icols", "i")]
        loads = []
        self.stride_order: list[tuple[str, Value]] = []
        for v in self.x_args:
            off, sp = self.xs.offset(self.x_args.index(v), ["o", "c", "i"], f"in{args.index(v)}")
            params += sp
            self.stride_order.append(("x", v))
            mask = {(True, True): "mask", (True, False): "rr < R", (False, True): "imask[None, :]"}.get(
                ("c" in off, "i" in off)
            )
            m = f", mask={mask}, other=0.0" if mask else ""
            ct = compute_type(v.type.dtype)  # type: ignore[attr-defined]
            loads.append(f"{names[v]} = tl.load(in{args.index(v)}_ptr + {off}{m}).to({ct})")
        ident_ = IDENTITY[self.reduce]
        x = self.anchor.operand(0)
        lines += [
            f"    acc = tl.full([BLOCK_R, BLOCK_I], {ident_}, tl.float32)",
            "    for start in range(0, R, BLOCK_R):",
        ]
        sweep = ["rr = (start + tl.arange(0, BLOCK_R))[:, None]", "mask = (rr < R) & imask[None, :]"]
        sweep += self.xs.decompose(1, "rr", "c") + loads
        sweep += lower_elementwise(self.prologue, names, fresh, self.anchor)
        term = TERM[self.reduce].format(x=names[x])
        sweep.append(
            "acc = " + COMBINE.get(self.reduce, "acc + {t}").format(t=f"tl.where(mask, {term}, {ident_})")
        )
        lines += ["        " + ln for ln in sweep]
        lines.append(f"    res = {FINAL.get(self.reduce, 'tl.sum(acc, 0)')}")
        if self.reduce in AFTER:
            lines.append("    " + AFTER[self.reduce])
        names[self.anchor.results[0]] = "res"
        lines += [
            "    " + ln for ln in self.ys.decompose(0, "row", "yo") + self.ys.decompose(1, "cols", "yi")
        ]
        for v in self.y_args:
            off, sp = self.ys.offset(self.y_args.index(v), ["yo", "yi"], f"in{args.index(v)}")
            params += sp
            self.stride_order.append(("y", v))
            m = ", mask=imask, other=0.0" if "yi" in off else ""
            ct = compute_type(v.type.dtype)  # type: ignore[attr-defined]
            lines.append(f"    {names[v]} = tl.load(in{args.index(v)}_ptr + {off}{m}).to({ct})")
        lines += ["    " + ln for ln in lower_elementwise(self.epilogue, names, fresh, self.anchor)]
        for i, v in enumerate(self.fused.yield_op().values):
            if v not in names or _shape(v) != self.y_shape:
                raise Unsupported("a column kernel result that is not the reduction's output shape")
            lines.append(
                f"    tl.store(out{i}_ptr + row * I + cols, {names[v]}.to(out{i}_ptr.dtype.element_ty), mask=imask)"
            )
        self.params = params
        title = f"column kernel '{self.name}' (one program per outer index and BLOCK_I kept elements)"
        constexprs = ["BLOCK_R: tl.constexpr", "BLOCK_I: tl.constexpr"]
        return kernel_source(title, self.fused, self.name, params + constexprs, lines)

    def config_space(self, level: int) -> list[dict[str, int]]:
        inner = int(np.prod([self.x_shape[d] for d in self.inner]))
        wide = min(128, 1 << max(0, (inner - 1).bit_length()))
        space = [
            {"BLOCK_R": 16, "BLOCK_I": min(64, wide), "num_warps": 4},
            {"BLOCK_R": 32, "BLOCK_I": wide, "num_warps": 4},
            {"BLOCK_R": 8, "BLOCK_I": wide, "num_warps": 2},
        ]
        return space[: max(1, level)]

    def __call__(self, inputs: list[Any], outputs: list[Any], config: dict[str, int] | None = None) -> None:
        if self._fn is None:
            from tritium.codegen.triton_env import load_source

            self._fn = getattr(load_source(self.source, self.name), self.name)
        cfg = config or self.config_space(1)[0]
        x_sizes, y_sizes = self.xs.sizes(self.x_shape), self.ys.sizes(self.y_shape)
        outer = int(np.prod(x_sizes[0]))
        reduced, inner = int(np.prod(x_sizes[1])), int(np.prod(x_sizes[2]))
        argv: list[Any] = [*inputs, *outputs, reduced, inner]
        argv += x_sizes[0][1:] + x_sizes[1][1:] + x_sizes[2][1:] + y_sizes[0][1:] + y_sizes[1][1:]
        args = list(self.fused.body.block.args)
        for space, v in self.stride_order:
            t = inputs[args.index(v)]
            if space == "x":
                argv += self.xs.strides(self.x_args.index(v), tuple(t.shape), self.x_shape)
            else:
                argv += self.ys.strides(self.y_args.index(v), tuple(t.shape), self.y_shape)
        grid = (max(outer, 1), -(-inner // cfg["BLOCK_I"]))
        self._fn[grid](
            *argv,
            BLOCK_R=cfg["BLOCK_R"],
            BLOCK_I=cfg["BLOCK_I"],
            num_warps=cfg["num_warps"],
            **pdl_kwargs(grid),
        )
