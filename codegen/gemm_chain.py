"""Two GEMMs in one kernel, the second reading the first's epilogue: ``epi2(epi1(x @ W1) @ W2)``.

ResNet's bottleneck blocks end in a 1x1 convolution that widens the channels four times (with the
residual add and ReLU), and the next block begins with one that narrows them again: two GEMMs over
the same pixels. Where it measured faster (``fusion_policy.chained_product_pays``), ``fuse-kernels``
puts the second into the first's kernel, and this template runs them together. Each program owns
BLOCK_M rows. For each BLOCK_N-wide slice of the first product's columns it computes the slice
(a loop over K1), runs the first epilogue on it, stores the results that others read (the block's
output, which the next residual add reads too), and multiplies the slice, rounded to the operand
type as the stored tensor would be, by the same BLOCK_N rows of W2 into the second accumulator,
which holds all N2 columns of its rows. After the last slice the second epilogue runs and its
results are stored. The first product's output is never read back: at batch 32 that is 51 MB per
block boundary in ResNet-50's first stage.

Pointers only, the batch dims folded into the rows; float16 or bfloat16 with float32 sums. The
epilogues' extra inputs broadcast as in the GEMM template (``indexing.Space``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tritium.codegen.gemm import row_stride
from tritium.codegen.gemm_forms import static_k
from tritium.codegen.gemm_library import shape_of
from tritium.codegen.indexing import Space, Unsupported
from tritium.codegen.lowering import compute_type, storage_type
from tritium.codegen.pointwise import kernel_name, kernel_source, lower_elementwise, namer
from tritium.codegen.triton_env import pdl_kwargs
from tritium.ir.core import Operation, Value
from tritium.ir.dialects.kernel import Fused, Yield
from tritium.ir.dialects.nn.constant import Constant
from tritium.passes.fusion_policy import GEMM_ANCHORS, chained_product, classify

DEFAULT_CONFIG = {"BLOCK_M": 64, "BLOCK_N": 128, "BLOCK_K": 64, "num_warps": 4, "num_stages": 2}
INTERPRETER_CONFIG = {"BLOCK_M": 32, "BLOCK_N": 32, "BLOCK_K": 32, "num_warps": 4, "num_stages": 1}
_SIZES = ("M", "N1", "K1", "N2")
_CONSTEXPRS = ("BLOCK_M", "BLOCK_N", "BLOCK_K", "N2_BLOCK")
_USED = {"pid", "rm", "rk", "rn", "rq", "em", "en", "mask", "acc", "acc2", "a", "b", "k", "kmask", "n1"}
_USED |= {"a_ptrs", "b_ptrs", "a2", "w2", "tl", "triton", *_SIZES, *_CONSTEXPRS}
_USED |= {"stride_w1k", "stride_w1n", "stride_w2k", "stride_w2n", "stride_o1", "stride_o2"}
_USED |= {f"{p}{kind}{i}" for p in "mnqr" for kind in ("", "size", "rest") for i in range(8)}


def _computed_from(body: list[Operation], value: Value) -> list[Operation]:
    """The ops of ``body`` (in order) that read ``value``, directly or through earlier ones of them."""
    found, values = [], {value}
    for op in body:
        if any(v in values for v in op.operands):
            found.append(op)
            values.update(op.results)
    return found


def _feeding(ops: list[Operation], free: set[Operation]) -> set[Operation]:
    """The ops of ``free`` that ``ops`` read, directly or through others of ``free``."""
    found: set[Operation] = set()
    stack = list(ops)
    while stack:
        for v in stack.pop().operands:
            d = v.defining_op
            if d in free and d not in found:
                found.add(d)
                stack.append(d)
    return found


class _Epilogue:
    """One product's epilogue: its ops, the extra inputs they read, and their index space, whose
    row and column indices (and stride parameters) take the prefixes ``rows`` and ``cols``."""

    def __init__(
        self,
        ops: list[Operation],
        out_shape: tuple,
        args: list[Value],
        weights: set[Value],
        rows: str,
        cols: str,
    ) -> None:
        self.ops, self.rows, self.cols = ops, rows, cols
        reads = {v for op in ops for v in op.operands}
        if reads & weights:
            raise Unsupported("a chained kernel's epilogue reads a weight of the products")
        self.extra = [a for a in args if a in reads]
        r = len(out_shape)
        self.space = Space(
            out_shape, [(rows, list(range(r - 1))), (cols, [r - 1])], [shape_of(a) for a in self.extra]
        )


class ChainKernel:
    kind = "gemm_chain"
    strided_inputs = True
    """The two weights are read through their strides (a transposed one costs no copy); the other
    inputs are made contiguous here."""

    def __init__(self, fused: Fused) -> None:
        self.fused = fused
        body = [op for op in fused.body.block.ops if not isinstance(op, (Yield, Constant))]
        products = [op for op in body if op.name in GEMM_ANCHORS]
        if len(products) != 2 or any(classify(op) != "elementwise" for op in body if op not in products):
            raise Unsupported("not two chained matmuls with elementwise ops")
        mm1, mm2 = products
        why = chained_product(mm1, mm2)
        if why is not None:
            raise Unsupported(why)
        args = list(fused.body.block.args)
        read = (mm1.operand(0), mm1.operand(1), mm2.operand(1))
        if any(v not in args for v in read):
            raise Unsupported("chained matmul operands computed inside the kernel")
        self.x, self.w1, self.w2 = (args.index(v) for v in read)
        # each epilogue: the ops computed from its product, and those computed from neither (a side
        # input's arithmetic) that it reads; an op both read is computed in both
        second = _computed_from(body, mm2.results[0])
        first = [op for op in _computed_from(body, mm1.results[0]) if op not in (*products, *second)]
        free = {op for op in body if op not in (*products, *first, *second)}
        v = mm2.operand(0)
        if v is not mm1.results[0] and v.defining_op not in first:
            raise Unsupported("the second matmul's operand is not computed from the first's product")
        first_values = {mm1.results[0], *(r for op in first for r in op.results)}
        if any(w in first_values for op in second for w in op.operands):
            raise Unsupported("the second epilogue reads a value the first computes")
        self.out1, self.out2 = shape_of(mm1.results[0]), shape_of(mm2.results[0])
        weights = {args[self.w1], args[self.w2]}  # (the rows x are contiguous: an epilogue may read them)
        reads1, reads2 = {*first, *_feeding(first, free)}, {*second, *_feeding(second, free)}
        ops1, ops2 = [op for op in body if op in reads1], [op for op in body if op in reads2]
        self.epi1 = _Epilogue(ops1, self.out1, args, weights, "m", "n")
        self.epi2 = _Epilogue(ops2, self.out2, args, weights, "q", "r")
        self.yields = fused.yield_op().values
        self.side = [
            1 if y in first_values else 2 if y is mm2.results[0] or y.defining_op in second else 0
            for y in self.yields
        ]
        if 0 in self.side:
            raise Unsupported("a chained kernel's result that neither product's epilogue computes")
        if any(shape_of(y) != (self.out1, self.out2)[s - 1] for y, s in zip(self.yields, self.side)):
            raise Unsupported("a chained kernel's result that is not its product's shape")
        self.mm1, self.mm2, self.v = mm1, mm2, v
        self.n1, self.k1, self.n2 = self.out1[-1], shape_of(mm1.operand(0))[-1], self.out2[-1]
        self.dtype = mm1.operand(0).type.dtype  # type: ignore[attr-defined]
        lead = self.out1[:-1]
        rows = int(np.prod(lead)) if all(isinstance(d, int) for d in lead) else 2**31
        self.wide = rows * max(self.n1, self.k1, self.n2) >= 2**31  # (offsets past int32, or unknown)
        self.name = kernel_name(fused)
        self.source = self._generate()
        self._fn: Any = None

    # -- source ----------------------------------------------------------------------------------
    def _epilogue(
        self, epi: _Epilogue, acc: str, product: Operation, cols: str, n: str
    ) -> tuple[list[str], list[str], dict]:
        """Lines (unindented) loading ``epi``'s extra inputs at rows ``rm`` and columns ``cols``
        and running its ops on ``acc``; their parameters; the names of the values computed."""
        args = list(self.fused.body.block.args)
        sp = epi.space
        params = sp.size_params(0, epi.rows)
        lines = ["em = rm[:, None]", f"en = {cols}[None, :]", f"mask = (em < M) & (en < {n})"]
        lines += sp.decompose(0, "em", epi.rows) + sp.decompose(1, "en", epi.cols)
        names: dict[Value, str] = {product.results[0]: acc}
        fresh = namer(names, set(_USED) | set(self._params))
        for j, a in enumerate(epi.extra):
            i = args.index(a)
            off, ps = sp.offset(j, [epi.rows, epi.cols], f"in{i}")
            params += ps
            along_m, along_n = sp.varies(j, 0), sp.varies(j, 1)
            m = {(True, True): "mask", (True, False): "em < M", (False, True): f"en < {n}"}.get(
                (along_m, along_n)
            )
            masked = f", mask={m}, other=0.0" if m and off != "0" else ""
            ct = compute_type(a.type.dtype)  # type: ignore[attr-defined]
            lines.append(f"{fresh(a, f'x{i}')} = tl.load(in{i}_ptr + {off}{masked}).to({ct})")
        consts = [c.defining_op for op in epi.ops for c in op.operands if isinstance(c.defining_op, Constant)]
        lines += lower_elementwise([*dict.fromkeys(consts), *epi.ops], names, fresh, product)
        return lines, params, names

    def _generate(self) -> str:
        n_in, n_out = len(self.fused.body.block.args), len(self.yields)
        self._params = [f"in{i}_ptr" for i in range(n_in)] + [f"out{i}_ptr" for i in range(n_out)]
        sizes = [f"{n}: tl.constexpr" if n == "K1" and static_k(self.k1) else n for n in _SIZES]
        params = [*self._params, *sizes, "stride_w1k", "stride_w1n", "stride_w2k", "stride_w2n"]
        params += ["stride_o1", "stride_o2"]  # (the outputs' rows may be padded: ``gemm.row_stride``)
        epi1, p1, names1 = self._epilogue(self.epi1, "acc", self.mm1, "rn", "N1")
        epi2, p2, names2 = self._epilogue(self.epi2, "acc2", self.mm2, "rq", "N2")
        params += p1 + p2
        operand = storage_type(self.dtype)
        start = "(pid * BLOCK_M).to(tl.int64)" if self.wide else "pid * BLOCK_M"
        x, w1, w2 = f"in{self.x}_ptr", f"in{self.w1}_ptr", f"in{self.w2}_ptr"

        def stores(side: int, names: dict) -> list[str]:
            return [
                f"tl.store(out{i}_ptr + em * stride_o{side} + en, {names[y]}.to(out{i}_ptr.dtype.element_ty), mask=mask)"
                for i, (y, s) in enumerate(zip(self.yields, self.side))
                if s == side
            ]

        lines = [
            "    pid = tl.program_id(0)",
            f"    rm = {start} + tl.arange(0, BLOCK_M)",
            "    rk = tl.arange(0, BLOCK_K)",
            "    rq = tl.arange(0, N2_BLOCK)  # the second product's columns, all in one tile",
            "    acc2 = tl.zeros((BLOCK_M, N2_BLOCK), dtype=tl.float32)",
            "    for n1 in range(0, tl.cdiv(N1, BLOCK_N)):",
            "        # a slice of the first product's columns",
            "        rn = n1 * BLOCK_N + tl.arange(0, BLOCK_N)",
            f"        a_ptrs = {x} + rm[:, None] * K1 + rk[None, :]",
            f"        b_ptrs = {w1} + rk[:, None] * stride_w1k + rn[None, :] * stride_w1n",
            "        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)",
            "        for k in range(0, tl.cdiv(K1, BLOCK_K)):",
            "            kmask = rk < K1 - k * BLOCK_K",
            "            a = tl.load(a_ptrs, mask=(rm[:, None] < M) & kmask[None, :], other=0.0)",
            "            b = tl.load(b_ptrs, mask=kmask[:, None] & (rn[None, :] < N1), other=0.0)",
            "            acc = tl.dot(a, b, acc)",
            "            a_ptrs += BLOCK_K",
            "            b_ptrs += BLOCK_K * stride_w1k",
            "        # its epilogue, and the results others read",
            *("        " + ln for ln in epi1 + stores(1, names1)),
            "        # the slice, as the stored operand would be, times the same rows of the second weight",
            f"        a2 = tl.where(en < N1, {names1[self.v]}, 0.0).to({operand})",
            f"        w2 = tl.load({w2} + rn[:, None] * stride_w2k + rq[None, :] * stride_w2n,",
            "                     mask=(rn[:, None] < N1) & (rq[None, :] < N2), other=0.0)",
            "        acc2 = tl.dot(a2, w2, acc2)",
            "    # the second product's epilogue",
            *("    " + ln for ln in epi2 + stores(2, names2)),
        ]
        constexprs = [f"{c}: tl.constexpr" for c in _CONSTEXPRS]
        title = (
            f"GEMM chain kernel '{self.name}' (a second product of the first's epilogue, batch folded into M)"
        )
        return kernel_source(title, self.fused, self.name, params + constexprs, lines)

    # -- tuning and launching ----------------------------------------------------------------------
    def config_space(self, level: int) -> list[dict[str, int]]:
        """Row strips of 64 (128) rows; slices of the first product 64 or 128 wide; K1 in steps of up
        to 64. Measured on an H100 (ResNet-50's first-stage pair, scratch kernels): 64 x 128 x 64 on 4
        warps, 2 stages led at batch 32 and 1."""
        bk = min(64, max(16, 1 << (self.k1 - 1).bit_length()))
        n2 = self._n2_block()
        space = []
        for bm, bn, warps, stages in (
            (64, 128, 4, 2),
            (64, 64, 4, 2),
            (128, 64, 8, 2),
            (64, 128, 4, 3),
            (128, 128, 8, 2),
        ):
            if bm * n2 > 128 * 128:
                continue
            c = {"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk, "num_warps": warps, "num_stages": stages}
            space.append(c)
        return space[: {0: 1, 1: 2, 2: 3}.get(level, len(space))]

    def _n2_block(self) -> int:
        return max(16, 1 << (self.n2 - 1).bit_length())

    def __call__(self, inputs: list[Any], outputs: list[Any], config: dict[str, int] | None = None) -> None:
        from tritium.codegen.triton_env import load_source, use_interpreter

        cfg = dict(INTERPRETER_CONFIG if use_interpreter() else DEFAULT_CONFIG)
        cfg.update(config or {})
        rows = [{row_stride(y) for y, s in zip(outputs, self.side) if s == side} for side in (1, 2)]
        if any(len(r) > 1 or None in r for r in rows):  # (rows it cannot address: written dense)
            dense = [y.new_empty(y.shape) for y in outputs]
            self(inputs, dense, config)
            for y, d in zip(outputs, dense):
                y.copy_(d)
            return
        weights = (self.w1, self.w2)
        inputs = [t if i in weights or t.is_contiguous() else t.contiguous() for i, t in enumerate(inputs)]
        w1, w2 = inputs[self.w1], inputs[self.w2]
        if self._fn is None:
            self._fn = getattr(load_source(self.source, self.name), self.name)
        out1 = next((tuple(y.shape) for y, s in zip(outputs, self.side) if s == 1), None)
        m = int(np.prod(inputs[self.x].shape[:-1]))
        out1 = out1 or (*inputs[self.x].shape[:-1], self.n1)
        out2 = (*out1[:-1], self.n2)
        argv: list[Any] = [*inputs, *outputs, m, self.n1, self.k1, self.n2, *w1.stride(), *w2.stride()]
        argv += [next(iter(r), n) for r, n in zip(rows, (self.n1, self.n2))]
        args = list(self.fused.body.block.args)
        for epi, shape in ((self.epi1, out1), (self.epi2, out2)):
            argv += epi.space.sizes(shape)[0][1:]
            for j, e in enumerate(epi.extra):
                argv += epi.space.strides(j, tuple(inputs[args.index(e)].shape), shape)
        grid = (max(1, -(-m // cfg["BLOCK_M"])),)
        self._fn[grid](
            *argv,
            BLOCK_M=cfg["BLOCK_M"],
            BLOCK_N=cfg["BLOCK_N"],
            BLOCK_K=cfg["BLOCK_K"],
            N2_BLOCK=self._n2_block(),
            num_warps=cfg["num_warps"],
            num_stages=cfg["num_stages"],
            **pdl_kwargs(grid),
        )
