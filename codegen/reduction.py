"""Row kernels: one reduction over trailing axes (reduce ops, softmax, layer/RMS norm), with the
elementwise prologue that computes its input and the elementwise epilogue that consumes its result.

One program handles one row (all leading dims flattened); it sweeps the row in BLOCK-wide chunks,
once per pass (softmax: max, sum, write), accumulating in float32 vectors that are reduced at the end
of each sweep. A row that fits one block (up to 4096 elements, known at build time) is loaded once
and every pass works on the values in registers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tritium.codegen.float_math import fmax, fmin
from tritium.codegen.indexing import Space, Unsupported
from tritium.codegen.lowering import compute_type
from tritium.codegen.pointwise import kernel_name, kernel_source, lower_elementwise, namer
from tritium.codegen.triton_env import pdl_kwargs
from tritium.ir.core import Operation, Value
from tritium.ir.dialects.kernel import Fused, Yield
from tritium.ir.types import TensorType
from tritium.passes.fusion_policy import classify

REDUCE = {
    "nn.reduce_sum": "sum",
    "nn.reduce_mean": "mean",
    "nn.reduce_max": "max",
    "nn.reduce_min": "min",
    "nn.reduce_prod": "prod",
    "nn.reduce_sum_square": "sum_square",
    "nn.reduce_l1": "l1",
    "nn.reduce_l2": "l2",
    "nn.reduce_log_sum": "log_sum",
    "nn.reduce_log_sum_exp": "log_sum_exp",
}
ROW_OPS = {"nn.softmax", "nn.log_softmax", "nn.layer_normalization", "nn.rms_normalization"}
IDENTITY = {
    "sum": "0.0",
    "mean": "0.0",
    "sum_square": "0.0",
    "l1": "0.0",
    "l2": "0.0",
    "log_sum": "0.0",
    "max": "float('-inf')",
    "min": "float('inf')",
    "prod": "1.0",
}
MAX_BLOCK = 4096


def _shape(v: Value) -> tuple:
    t = v.type
    if not isinstance(t, TensorType) or t.shape is None:
        raise Unsupported(f"value of type {t}")
    return t.shape


def _next_pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def split_reduction(fused: Fused, supported: Any) -> tuple[list[Operation], Operation]:
    """The group's ops (no yield) and its one reduction, which ``supported(name)`` must accept."""
    body = [op for op in fused.body.block.ops if not isinstance(op, Yield)]
    anchors = [op for op in body if classify(op) == "reduction"]
    if len(anchors) != 1 or not supported(anchors[0].name):
        raise Unsupported("not a single supported reduction")
    return body, anchors[0]


class RowKernel:
    kind = "row"

    def __init__(self, fused: Fused) -> None:
        self.fused = fused
        body, a = split_reduction(fused, lambda name: name in REDUCE or name in ROW_OPS)
        self.anchor = a
        at = a.operand(0).type
        if not isinstance(at, TensorType) or not at.dtype.is_float:
            raise Unsupported("reductions of non-float tensors run on the host")
        x_shape = _shape(a.operand(0))
        rank = len(x_shape)
        axes = self._axes(a, rank)
        if rank == 0 or not axes or list(axes) != list(range(rank - len(axes), rank)):
            raise Unsupported(f"reduction over axes {axes} of a rank-{rank} tensor (only trailing axes)")
        self.n_row_dims = rank - len(axes)
        self.x_shape = x_shape
        pos = body.index(a)
        self.prologue, self.epilogue = body[:pos], body[pos + 1 :]
        self.full_output = a.name in ROW_OPS
        self.y_shape = x_shape if self.full_output else _shape(a.results[0])
        if a.name in ("nn.layer_normalization", "nn.rms_normalization") and any(
            r.uses for r in a.results[1:]
        ):
            raise Unsupported("norm statistics outputs are used")
        self.name = kernel_name(fused)
        self.source = self._generate()
        self._fn: Any = None

    @staticmethod
    def _axes(a: Operation, rank: int) -> tuple[int, ...]:
        if a.name in REDUCE:
            ax = a.static_axes()  # type: ignore[attr-defined]
            if ax is None or (a.attributes.get("noop_with_empty_axes") and not ax):
                raise Unsupported("axes unknown at build time")
            return tuple(sorted(ax))
        axis = a.attributes.get("axis", -1) % rank
        if a.name in ("nn.softmax", "nn.log_softmax"):
            return (axis,)
        return tuple(range(axis, rank))

    # -- source ----------------------------------------------------------------------------------
    def _generate(self) -> str:
        block = self.fused.body.block
        args = list(block.args)
        in_epilogue = {v for op in self.epilogue for v in op.operands}
        in_row = {v for op in [*self.prologue, self.anchor] for v in op.operands}
        nr, rank = self.n_row_dims, len(self.x_shape)
        segs = [("r", list(range(nr))), ("c", list(range(nr, rank)))]
        if self.full_output:  # the epilogue runs per element of the row: one space for everything
            self.x_args = list(args)
            self.y_args = [a for a in args if a in in_epilogue and a not in in_row]
            self.xs = self.ys = Space(self.x_shape, segs, [_shape(a) for a in args])
            y_prefixes = ["r", "c"]
        else:  # the epilogue runs once per row, on the reduced value
            self.x_args = [a for a in args if a in in_row or a not in in_epilogue]
            self.y_args = [a for a in args if a not in self.x_args]
            self.xs = Space(self.x_shape, segs, [_shape(a) for a in self.x_args])
            self.ys = Space(
                self.y_shape, [("yr", list(range(len(self.y_shape))))], [_shape(a) for a in self.y_args]
            )
            y_prefixes = ["yr"]
        params = [f"in{i}_ptr" for i in range(len(args))] + [
            f"out{i}_ptr" for i in range(len(self.fused.results))
        ]
        params += ["N"] + self.xs.size_params(0, "r") + self.xs.size_params(1, "c")
        if not self.full_output:
            params += self.ys.size_params(0, "yr")
        names: dict[Value, str] = {}
        used = {"tl", "triton", "row", "rmask", "cols", "cmask", "start", "N", "acc", "res", "m", "s"}
        used |= {"mean", "rstd", "m_acc", "s_acc"}  # the normalizations' own variables
        fresh = namer(names, used)

        for i, a in enumerate(args):
            fresh(a, f"x{i}")
        row_dims = list(self.x_shape[nr:])
        self.single = all(isinstance(d, int) for d in row_dims) and int(np.prod(row_dims)) <= MAX_BLOCK
        """The row fits one block (launched with BLOCK >= N): a program takes ROWS rows as one
        [ROWS, BLOCK] tile, loads it once, and every pass reuses the values in registers."""
        if self.single:
            params.append("R")
            lines = [
                "    row = (tl.program_id(0) * ROWS + tl.arange(0, ROWS)).to(tl.int64)[:, None]",
                "    rmask = row < R",
            ]
        else:
            lines = ["    row = tl.program_id(0).to(tl.int64)"]
        lines += ["    " + ln for ln in self.xs.decompose(0, "row", "r")]
        if not self.full_output:
            lines += ["    " + ln for ln in self.ys.decompose(0, "row", "yr")]
        x_off: dict[Value, str] = {}
        y_off: dict[Value, str] = {}
        self.stride_order: list[tuple[str, Value]] = []  # (space, arg) in parameter order
        for a in self.x_args:
            off, sp = self.xs.offset(self.x_args.index(a), ["r", "c"], f"in{args.index(a)}")
            x_off[a] = off
            params += sp
            self.stride_order.append(("x", a))
        if not self.full_output:
            for a in self.y_args:
                off, sp = self.ys.offset(self.y_args.index(a), y_prefixes, f"in{args.index(a)}")
                y_off[a] = off
                params += sp
                self.stride_order.append(("y", a))
        else:
            y_off = x_off
        self.params = params
        emitter = _Emitter(self, names, fresh, args, x_off, y_off)
        lines += emitter.body()
        per = "ROWS rows per program, each in one block" if self.single else "one program per row"
        constexprs = ["BLOCK: tl.constexpr"] + (["ROWS: tl.constexpr"] if self.single else [])
        return kernel_source(
            f"row kernel '{self.name}' ({per})", self.fused, self.name, [*params, *constexprs], lines
        )

    def config_space(self, level: int) -> list[dict[str, int]]:
        n = int(np.prod([d if isinstance(d, int) else 1024 for d in self.x_shape[self.n_row_dims :]]))
        block = min(_next_pow2(n), MAX_BLOCK)
        warps = [4, 8, 2] if block >= 1024 else [2, 4, 1]
        if not self.single:
            return [{"BLOCK": block, "num_warps": w} for w in warps][: max(1, level)]
        # Half the default tile on 2 warps first (about 32 elements a thread, and fewer threads to
        # join in each row's sums: LayerNorm of 4096 x 768 f16 on an H200 4.8 -> 4.1-4.6 us, of
        # 6304 x 768 6.1 -> 5.5 us), then the default tile and one row per program on 4 warps.
        d = _rows_per_program(block)
        pairs = [(max(1, d // 2), 2), (d, 4), (1, 4), (max(1, d // 2), 1), (1, 2), (d, 8), (max(1, 2 * d), 4)]
        space = [{"BLOCK": block, "ROWS": r, "num_warps": w} for r, w in dict.fromkeys(pairs)]
        return space[: 1 if level <= 0 else 2 * level]

    # -- launching ------------------------------------------------------------------------------------
    def __call__(self, inputs: list[Any], outputs: list[Any], config: dict[str, int] | None = None) -> None:
        if self._fn is None:
            from tritium.codegen.triton_env import load_source

            self._fn = getattr(load_source(self.source, self.name), self.name)
        x_actual = self._actual_x(inputs)
        nr = self.n_row_dims
        rows = int(np.prod(x_actual[:nr]))
        n = int(np.prod(x_actual[nr:]))
        block = (config or {}).get("BLOCK") or min(_next_pow2(n), MAX_BLOCK)
        if self.single:  # the source has no loop over chunks: one block holds the row
            block = max(block, _next_pow2(n))
        argv: list[Any] = [*inputs, *outputs, n]
        xsz = self.xs.sizes(x_actual)
        argv += xsz[0][1:] + xsz[1][1:]
        y_actual = x_actual if self.full_output else tuple(outputs[0].shape)
        if not self.full_output:
            argv += self.ys.sizes(y_actual)[0][1:]
        per_program = (config or {}).get("ROWS") or _rows_per_program(block)
        if self.single:
            argv.append(rows)
        args = list(self.fused.body.block.args)
        for space, a in self.stride_order:
            x = inputs[args.index(a)]
            if space == "x":
                argv += self.xs.strides(self.x_args.index(a), tuple(x.shape), x_actual)
            else:
                argv += self.ys.strides(self.y_args.index(a), tuple(x.shape), y_actual)
        warps = (config or {}).get("num_warps", 4 if block >= 1024 or self.single else 2)
        if self.single:
            grid = (max(-(-rows // per_program), 1),)
            self._fn[grid](*argv, BLOCK=block, ROWS=per_program, num_warps=warps, **pdl_kwargs(grid))
        else:
            grid = (max(rows, 1),)
            self._fn[grid](*argv, BLOCK=block, num_warps=warps, **pdl_kwargs(grid))

    def _actual_x(self, inputs: list[Any]) -> tuple[int, ...]:
        """The reduction input's run-time shape (static, or that of a block argument feeding it)."""
        if all(isinstance(d, int) for d in self.x_shape):
            return tuple(self.x_shape)  # type: ignore[arg-type]
        args = list(self.fused.body.block.args)
        for a, x in zip(args, inputs):
            if len(x.shape) == len(self.x_shape) and _shape(a) == self.x_shape:
                return tuple(x.shape)
        raise Unsupported("cannot tell the run-time shape of the reduction input")


def _rows_per_program(block: int) -> int:
    """Rows per program of a one-block row kernel by default: tiles of about 4096 elements."""
    return max(1, 4096 // block)


class _Emitter:
    """Writes the passes of one row kernel."""

    def __init__(
        self,
        k: RowKernel,
        names: dict[Value, str],
        fresh: Any,
        args: list[Value],
        x_off: dict[Value, str],
        y_off: dict[Value, str],
    ) -> None:
        self.k, self.names, self.fresh, self.args, self.x_off, self.y_off = (
            k,
            names,
            fresh,
            args,
            x_off,
            y_off,
        )
        self.single = k.single
        self.loaded = False
        self.vec = "[ROWS, BLOCK]" if self.single else "[BLOCK]"
        self.rmask = ", mask=rmask" if self.single else ""

    def mask(self, off: str) -> str:
        """The mask of a load at ``off``: along the row when it depends on the column (``c``
        indices); by row in the rows form when it depends on the row only; none for a scalar."""
        if "c" in off:
            return ", mask=cmask, other=0.0"
        return ", mask=rmask, other=0.0" if self.single and off != "0" else ""

    def total(self, fn: str, x: str) -> str:
        """The reduction of ``x`` over the row (one value per row: a column in the rows form); max
        and min keep NaN, as numpy's do."""
        axis = 1 if self.single else 0
        call = f"tl.reduce({x}, {axis}, {fn}_with_nan)" if fn in ("max", "min") else f"tl.{fn}({x}, {axis})"
        return f"{call}[:, None]" if self.single else call

    def sweep(self, consume: list[str], other: str = "0.0") -> list[str]:
        """A loop over the row's chunks that loads the inputs, runs the prologue, then ``consume``
        (a row in one block: the loads and the prologue once, in the first pass)."""
        k = self.k
        if self.single and self.loaded:
            return ["    " + c for c in consume]
        out = [
            "    for start in range(0, N, BLOCK):",
            "        cols = start + tl.arange(0, BLOCK)",
            "        cmask = cols < N",
        ]
        out += ["        " + ln for ln in k.xs.decompose(1, "cols", "c")]
        for a in k.x_args:
            i = self.args.index(a)
            ct = compute_type(a.type.dtype)  # type: ignore[attr-defined]
            off = self.x_off[a]
            m = self.mask(off)
            out.append(f"        {self.names[a]} = tl.load(in{i}_ptr + {off}{m}).to({ct})")
        out += ["        " + ln for ln in self.elementwise(k.prologue)]
        out += ["        " + c for c in consume]
        if not self.single:
            return out
        self.loaded = True  # no loop: one chunk of ROWS rows, starting at column 0
        return ["    cols = tl.arange(0, BLOCK)[None, :]", "    cmask = (cols < N) & rmask"] + [
            ln[4:] for ln in out[3:]
        ]

    def elementwise(self, ops: list[Operation]) -> list[str]:
        return lower_elementwise(ops, self.names, self.fresh, self.k.anchor)

    def body(self) -> list[str]:
        a = self.k.anchor
        x = a.operand(0)
        xs = lambda: self.names[x]  # noqa: E731  (the name exists once the sweep has defined it)
        if a.name in REDUCE:
            return self.reduce(REDUCE[a.name], xs)
        if a.name in ("nn.softmax", "nn.log_softmax"):
            return self.softmax(a.name == "nn.log_softmax", xs)
        return self.norm(a, xs)

    def reduce(self, kind: str, xs: Any) -> list[str]:
        lines = []
        if kind == "log_sum_exp":
            lines += [f"    m_acc = tl.full({self.vec}, float('-inf'), tl.float32)"]
            lines += self.sweep(["m_acc = tl.maximum(m_acc, tl.where(cmask, " + "{x}" + ", float('-inf')))"])
            lines = [ln.replace("{x}", xs()) if "{x}" in ln else ln for ln in lines]
            lines += [
                f"    m = {self.total('max', 'm_acc')}",
                "    m = tl.where((m == float('inf')) | (m == float('-inf')), 0.0, m)  # (inf, -inf: unshifted)",
                f"    s_acc = tl.zeros({self.vec}, tl.float32)",
            ]
            lines += self._fmt(self.sweep(["s_acc += tl.where(cmask, tl.exp({x} - m), 0.0)"]), xs)
            lines += [f"    res = m + tl.log({self.total('sum', 's_acc')})"]
        else:
            term = {
                "sum": "{x}",
                "mean": "{x}",
                "max": "{x}",
                "min": "{x}",
                "prod": "{x}",
                "sum_square": "{x} * {x}",
                "l1": "tl.abs({x})",
                "l2": "{x} * {x}",
                "log_sum": "{x}",
            }[kind]
            combine = {
                "max": "acc = " + fmax("acc", "{t}"),
                "min": "acc = " + fmin("acc", "{t}"),
                "prod": "acc = acc * {t}",
            }.get(kind, "acc += {t}")
            ident_ = IDENTITY[kind]
            lines += [f"    acc = tl.full({self.vec}, {ident_}, tl.float32)"]
            lines += self._fmt(self.sweep([combine.format(t=f"tl.where(cmask, {term}, {ident_})")]), xs)
            final = {
                "max": self.total("max", "acc"),
                "min": self.total("min", "acc"),
                "prod": "_prod(acc)",
            }.get(kind, self.total("sum", "acc"))
            if kind == "prod":
                raise Unsupported("product reductions run on the host")
            lines.append(f"    res = {final}")
            if kind == "mean":
                lines.append("    res = res / N")
            elif kind == "l2":
                lines.append("    res = tl.sqrt(res)")
            elif kind == "log_sum":
                lines.append("    res = tl.log(res)")
        self.names[self.k.anchor.results[0]] = "res"
        lines += self.scalar_epilogue()
        return lines

    def scalar_epilogue(self) -> list[str]:
        k = self.k
        lines = []
        for a in k.y_args:
            i = self.args.index(a)
            ct = compute_type(a.type.dtype)  # type: ignore[attr-defined]
            lines.append(
                f"    {self.names[a]} = tl.load(in{i}_ptr + {self.y_off[a]}{self.mask(self.y_off[a])}).to({ct})"
            )
        lines += ["    " + ln for ln in self.elementwise(k.epilogue)]
        for i, v in enumerate(k.fused.yield_op().values):
            if v not in self.names or _shape(v) != k.y_shape:
                raise Unsupported("a row kernel result that is not the reduction's output shape")
            lines.append(
                f"    tl.store(out{i}_ptr + row, {self.names[v]}.to(out{i}_ptr.dtype.element_ty){self.rmask})"
            )
        return lines

    def write_sweep(self, value_expr: str, xs: Any) -> list[str]:
        """The last sweep: compute the anchor's result per element, run the epilogue, store."""
        k = self.k
        consume = [f"{self.fresh(k.anchor.results[0], 'y')} = {value_expr}"]
        for a in k.y_args:
            i = self.args.index(a)
            ct = compute_type(a.type.dtype)  # type: ignore[attr-defined]
            consume.append(
                f"{self.names[a]} = tl.load(in{i}_ptr + {self.y_off[a]}{self.mask(self.y_off[a])}).to({ct})"
            )
        consume += self.elementwise(k.epilogue)
        for i, v in enumerate(k.fused.yield_op().values):
            if v not in self.names or _shape(v) != k.x_shape:
                raise Unsupported("a row kernel result that is not the row's shape")
            consume.append(
                f"tl.store(out{i}_ptr + row * N + cols, {self.names[v]}.to(out{i}_ptr.dtype.element_ty),"
                " mask=cmask)"
            )
        return self._fmt(self.sweep(consume), xs)

    def softmax(self, log: bool, xs: Any) -> list[str]:
        lines = [f"    m_acc = tl.full({self.vec}, float('-inf'), tl.float32)"]
        lines += self._fmt(self.sweep(["m_acc = tl.maximum(m_acc, tl.where(cmask, {x}, float('-inf')))"]), xs)
        lines += [f"    m = {self.total('max', 'm_acc')}", f"    s_acc = tl.zeros({self.vec}, tl.float32)"]
        lines += self._fmt(self.sweep(["s_acc += tl.where(cmask, tl.exp({x} - m), 0.0)"]), xs)
        lines += [f"    s = {self.total('sum', 's_acc')}"]
        expr = "{x} - m - tl.log(s)" if log else "tl.exp({x} - m) / s"
        return lines + self.write_sweep(expr, xs)

    def norm(self, a: Operation, xs: Any) -> list[str]:
        scale = self.names[a.operand(1)]
        bias = self.names[a.operand(2)] if a.name == "nn.layer_normalization" and a.num_operands > 2 else None
        eps = repr(float(a.attributes.get("epsilon", 1e-5)))
        lines = []
        if a.name == "nn.layer_normalization":
            lines += [f"    acc = tl.zeros({self.vec}, tl.float32)"]
            lines += self._fmt(self.sweep(["acc += tl.where(cmask, {x}, 0.0)"]), xs)
            lines += [
                f"    mean = {self.total('sum', 'acc')} / N",
                f"    acc = tl.zeros({self.vec}, tl.float32)",
            ]
            lines += self._fmt(self.sweep(["acc += tl.where(cmask, ({x} - mean) * ({x} - mean), 0.0)"]), xs)
            lines += [f"    rstd = 1.0 / tl.sqrt({self.total('sum', 'acc')} / N + {eps})"]
            expr = f"({{x}} - mean) * rstd * {scale}" + (f" + {bias}" if bias else "")
        else:
            lines += [f"    acc = tl.zeros({self.vec}, tl.float32)"]
            lines += self._fmt(self.sweep(["acc += tl.where(cmask, {x} * {x}, 0.0)"]), xs)
            lines += [f"    rstd = 1.0 / tl.sqrt({self.total('sum', 'acc')} / N + {eps})"]
            expr = f"{{x}} * rstd * {scale}"
        return lines + self.write_sweep(expr, xs)

    @staticmethod
    def _fmt(lines: list[str], xs: Any) -> list[str]:
        return [ln.replace("{x}", xs()) if "{x}" in ln else ln for ln in lines]
