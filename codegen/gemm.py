"""The GEMM template: (batched) matrix products with an elementwise epilogue.

    out[..., m, n] = epilogue(sum_k a[..., m, k] * b[..., k, n], extra inputs at [..., m, n])

Tiles of BLOCK_M x BLOCK_N accumulate in float32 over BLOCK_K steps (tl.dot: tensor cores for f16 and
bf16; IEEE float32 for f32, so float32 engines stay within 1e-4 of the reference); an integer product
(``nn.matmul_integer`` of i8 operands, from lower-quant) accumulates exactly in int32 on the int8
tensor cores, and its epilogue starts with the dequantizing scale; a float 8 product
(``nn.matmul_float8``) runs on the FP8 tensor cores with float32 sums. Programs walk the
output in groups of GROUP_M rows of tiles for L2 reuse. When ``b`` has no batch dims and ``a`` is
not broadcast, the batch dims fold into M: one large GEMM instead of many small ones. The epilogue
(bias, activation, residual add, scale, cast: any elementwise chain) runs on the accumulator before
the single store, with its extra inputs indexed by broadcasting.

For f16 and bf16 (i8 through ``torch._int_mm``, e4m3 by a K-major constant weight through
``torch._scaled_mm``) a library tactic competes in tuning (config
``LIBRARY``): cuBLAS through torch computes the product (with the bias when that is the whole
epilogue), and the kernel's twin, ``<name>_epilogue``, applies any other epilogue to it in one more
pass. On Hopper the tiles load by tensor descriptors (``<name>_tma``), also in persistent and
stream-K loops (``gemm_forms.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tritium.codegen.gemm_depthwise import depthwise_loop, depthwise_of, depthwise_space
from tritium.codegen.gemm_forms import (
    StreamKWorkspaces,
    k_major,
    operand_descriptors,
    persistent_loop,
    static_k,
    store_by_tma,
    store_descriptors,
    streamk_loop,
    tile_placement,
)
from tritium.codegen.gemm_library import LibraryTactic
from tritium.codegen.gemm_library import shape_of as _shape
from tritium.codegen.gemm_pieces import joined_operand, piece_descriptors, piece_loops, whole_tiles
from tritium.codegen.indexing import Space, Unsupported
from tritium.codegen.lowering import compute_type, dot_precision
from tritium.codegen.pointwise import jit_function, kernel_name, kernel_source, lower_elementwise, namer
from tritium.codegen.split_k import split_candidates, split_launch, split_loop, split_tail
from tritium.codegen.triton_env import pdl_kwargs, register_cap
from tritium.ir.core import Value
from tritium.ir.dialects.kernel import Fused, Yield
from tritium.ir.dialects.nn.constant import Constant
from tritium.passes.fusion_policy import GEMM_ANCHORS, classify

DEFAULT_CONFIG = {"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 32, "GROUP_M": 8, "num_warps": 4, "num_stages": 3}
INTERPRETER_CONFIG = {
    "BLOCK_M": 32,
    "BLOCK_N": 32,
    "BLOCK_K": 32,
    "GROUP_M": 4,
    "num_warps": 4,
    "num_stages": 1,
}
"""Shared memory per block on H100/H200 (what Triton checks a kernel against)."""
_CONSTEXPR_NAMES = ("BLOCK_M", "BLOCK_N", "BLOCK_K", "GROUP_M")
_CONSTEXPRS = [f"{p}: tl.constexpr" for p in _CONSTEXPR_NAMES]
TMA_TYPES = ("f16", "bf16", "i8", "f8E4M3FN", "f8E5M2")
"""Operand types whose tiles the Hopper forms load by tensor descriptors."""
_RESERVED = {"M", "N", "K", "a_desc", "b_desc", "acc_ptr", "NUM_SMS", "WS", *_CONSTEXPR_NAMES}
_RESERVED |= {"B_KMAJOR", "SPLIT", "TMA_STORE"}
# names the placement, the persistent and the stream-K loops define
_RESERVED |= {"num_pid_m", "num_pid_n", "group", "first_m", "group_size", "pid_m", "pid_n", "tile", "tile_c"}
_RESERVED |= {"k_iters", "tiles", "programs", "v", "dp_rounds", "sk_first", "sk_total", "it", "it_end", "dp"}
_RESERVED |= {"k_first", "k_last", "last", "p", "ready", "ws_ptr", "flags_ptr"}
_RESERVED |= {f"{d}{i}" for d in "mne" for i in range(8)}  # the index decomposition's names


def _side_mask(space: Space, j: int, seg_m: int) -> str:
    """The load mask of the epilogue's extra input ``j``: a row (a bias) or a column broadcast over the
    tile loads once per column or row, not once per element of the tile."""
    along_m, along_n = space.varies(j, seg_m), space.varies(j, seg_m + 1)
    if not along_m and not along_n:
        return ""  # one value per batch entry (a scalar offset: the batch index is in range)
    if not along_m:
        return "en < N"
    if not along_n:
        return "em < M"
    return "mask"


def row_stride(y: Any) -> int | None:
    """The distance between consecutive rows of ``y`` seen as the matrix of its last dimension's rows
    (unit column stride, leading dimensions that merge), or None where there is none. An engine
    output with unaligned rows has a padded one (``Program.padded``)."""
    n = y.shape[-1] if y.dim() else 1
    if y.dim() <= 1 or y.numel() == 0:
        return n
    if n > 1 and y.stride(-1) != 1:
        return None
    rows = expected = None
    for size, stride in reversed(list(zip(y.shape[:-1], y.stride()[:-1]))):
        if size == 1:
            continue
        if rows is None:
            rows = expected = stride
        if stride != expected:
            return None
        expected = stride * size
    if rows is None:  # one row
        return n
    return rows if rows >= n else None


class MatmulKernel(LibraryTactic):
    kind = "gemm"
    tactic_source = "cublas"
    strided_inputs = True
    """A 2-D ``b`` is read through its strides (a transposed weight costs no copy); the other inputs
    are made contiguous here."""

    def __init__(self, fused: Fused) -> None:
        self.fused = fused
        body = [op for op in fused.body.block.ops if not isinstance(op, (Yield, Constant))]
        anchors = [op for op in body if op.name in GEMM_ANCHORS]
        args = list(fused.body.block.args)
        joined = joined_operand(anchors[0], args) if len(anchors) == 1 else None
        self.pieces, self.widths = (joined[1], joined[2]) if joined else ([], [])
        """A left operand joined along K from these block arguments (``gemm_pieces``), of these widths."""
        self.dw = depthwise_of(anchors[0], args) if len(anchors) == 1 and not joined else None
        """A left operand computed in the kernel by a depthwise convolution (``gemm_depthwise``)."""
        own = [*anchors, *([joined[0]] if joined else []), *(self.dw.ops if self.dw else [])]
        if len(anchors) != 1 or any(classify(op) != "elementwise" for op in body if op not in own):
            raise Unsupported("not a matmul with elementwise ops")  # (ops before it compute epilogue inputs)
        self.anchor = mm = anchors[0]
        self.epilogue = [op for op in fused.body.block.ops if op not in own and not isinstance(op, Yield)]
        a_in = args[self.pieces[0]] if self.pieces else args[self.dw.x] if self.dw else mm.operand(0)
        if a_in not in args or mm.operand(1) not in args:
            raise Unsupported("matmul operands computed inside the kernel")
        a_shape, b_shape = _shape(mm.operand(0)), _shape(mm.operand(1))
        if len(a_shape) < 2 or len(b_shape) < 2:
            raise Unsupported("1-D matmul operands")
        dt = mm.operand(0).type.dtype  # type: ignore[attr-defined]
        self.integer = not dt.is_float
        self.a_offset, self.a_zero, self.a_zero_const = 0, None, 0
        """The int8 product of u8 rows (``a_offset`` 128: a - 128 fits int8) or rows with a zero
        point (``a_zero``: the block argument holding it, else the literal ``a_zero_const``) adds
        (a_offset - zero) times each column's sum of b: (a - z) @ b = (a - o) @ b + (o - z) * colsum(b)."""
        if self.integer:
            self._integer_operands(mm, args, dt)
        self.dtype = dt
        self.static_k = static_k(sum(self.widths) or a_shape[-1])
        """K is the kernel's compile-time constant (``gemm_forms.static_k``)."""
        self.out_shape = _shape(mm.results[0])
        self.batch_rank = len(self.out_shape) - 2
        batch = self.out_shape[:-2]
        a_batch = (1,) * (self.batch_rank - (len(a_shape) - 2)) + tuple(a_shape[:-2])
        self.fold = len(b_shape) == 2 and all(x == y for x, y in zip(a_batch, batch))
        r = len(self.out_shape)
        for v in fused.yield_op().values:
            if _shape(v) != self.out_shape:
                raise Unsupported("a kernel result that is not the matmul's output shape")
        self.a_index, self.b_index = args.index(a_in), args.index(mm.operand(1))
        operands = (mm.operand(0), mm.operand(1), self.a_zero, *(args[i] for i in self.pieces))
        reads = {v for op in self.epilogue for v in op.operands}  # (a residual may be the conv's input)
        convolved = {args[i] for i in self.dw.args} - reads if self.dw else set()
        self.extra = [a for a in args if a not in operands and a not in convolved]
        if any(v in operands for op in self.epilogue for v in op.operands):
            raise Unsupported("the epilogue reads an operand of the product itself")
        if self.fold:
            segs = [("m", list(range(r - 1))), ("n", [r - 1])]
        else:
            segs = [("b", list(range(self.batch_rank))), ("m", [r - 2]), ("n", [r - 1])]
        self.space = Space(self.out_shape, segs, [_shape(a) for a in self.extra])
        self.batch_space = (
            None
            if self.fold
            else Space(batch, [("b", list(range(self.batch_rank)))], [a_shape[:-2], b_shape[:-2]])
        )
        self.name = kernel_name(fused)
        self.bias_index = -1
        self.library = self._library_form()
        self.source = self._generate()
        self._fn: Any = None
        self._workspaces = StreamKWorkspaces()

    def _integer_operands(self, mm: Any, args: list[Value], dt: Any) -> None:
        from tritium.ir.opdef import constant_value

        if dt.name not in ("i8", "ui8") or mm.operand(1).type.dtype.name != "i8":  # type: ignore[attr-defined]
            raise Unsupported(
                f"{dt} x {mm.operand(1).type.dtype} matmul runs on the host (i8 or u8 x i8 only)"
            )  # type: ignore[attr-defined]
        if mm.b_zero_point is not None:  # lower-quant drops the all-zero ones
            raise Unsupported("integer matmul with weight zero points runs on the host")
        self.a_offset = 128 if dt.name == "ui8" else 0
        za = mm.a_zero_point
        if za is None:
            return
        value = constant_value(za)
        if value is not None and value.size == 1:
            self.a_zero_const = int(value.reshape(-1)[0])
        elif za in args and getattr(za.type, "numel", None) == 1:
            self.a_zero = za
        else:
            raise Unsupported("integer matmul with per-row zero points runs on the host")

    @property
    def corrected(self) -> bool:
        """Whether the product needs the column-sum correction (u8 rows or a zero point)."""
        return self.a_zero is not None or self.a_offset != self.a_zero_const

    # -- source ----------------------------------------------------------------------------------
    def _generate(self) -> str:
        params, body = self._kernel_text("pointers")
        self.params = [p for p in params if not p.endswith("tl.constexpr")]
        title = f"GEMM kernel '{self.name}' ({'batch folded into M' if self.fold else 'batched'})"
        more = []
        if self.fold and self.dtype.name in TMA_TYPES and not self.corrected and not self.dw:
            more.append(jit_function(self.name + "_tma", *self._kernel_text("tma")))
            title += ", its TMA variant (Hopper: tiles loaded by tensor descriptors)"
            if not self.pieces:
                more.append(jit_function(self.name + "_persistent", *self._kernel_text("persistent")))
                title += " and that variant persistent"
            if not self.integer and not self.pieces:
                more.append(jit_function(self.name + "_streamk", *self._kernel_text("streamk")))
                title += " and stream-K"
        if self.library == "epilogue":
            more.append(jit_function(self.name + "_epilogue", *self._kernel_text("epilogue")))
            title += ", and its epilogue alone (the cuBLAS tactic: a library call computes the product)"
        return kernel_source(title, self.fused, self.name, params, body, after="\n\n".join(more))

    def _kernel_text(self, mode: str) -> tuple[list[str], list[str]]:
        """A jitted function's parameters and body: the tiled product then the epilogue, loading the
        tiles through pointers ("pointers") or tensor descriptors ("tma": ``a_desc``, ``b_desc``;
        ``B_KMAJOR`` when ``b`` is held transposed), or the epilogue alone ("epilogue"), reading the
        product from ``acc_ptr`` (contiguous, the output's shape)."""
        library = mode == "epilogue"
        args = list(self.fused.body.block.args)
        mm = self.anchor
        n_out = len(self.fused.results)
        params = [f"in{i}_ptr" for i in range(len(args))] + [f"out{i}_ptr" for i in range(n_out)]
        k = "K: tl.constexpr" if self.static_k else "K"
        params += ["M", "N", k, "stride_am", "stride_ak", "stride_bk", "stride_bn", "stride_om", "N_out"]
        split = self.splittable and mode in ("tma", "pointers")
        lines = [
            "    pid = tl.program_id(0)",
            *(["    ks = tl.program_id(1)  # the tile's share of the reduction (SPLIT_K)"] if split else []),
            "    num_pid_m = tl.cdiv(M, BLOCK_M)",
            "    num_pid_n = tl.cdiv(N, BLOCK_N)",
            *tile_placement("pid"),
        ]
        a_base, b_base = f"in{self.a_index}_ptr", f"in{self.b_index}_ptr"
        if not self.fold:
            bs = self.batch_space
            assert bs is not None
            params += bs.size_params(0, "b")
            lines += ["    batch = tl.program_id(1).to(tl.int64)"]
            lines += ["    " + ln for ln in bs.decompose(0, "batch", "b")]
            a_off, a_params = bs.offset(0, ["b"], "a")
            b_off, b_params = bs.offset(1, ["b"], "b")
            params += a_params + b_params
            if not library:
                lines += [f"    a_batch = {a_off}", f"    b_batch = {b_off}"]
            a_base, b_base = f"{a_base} + a_batch", f"{b_base} + b_batch"
        acc_type = "tl.int32" if self.integer else "tl.float32"
        if self.pieces and not library:
            lines += piece_loops(mode, self.pieces, self.widths, acc_type, self._precision(), "0.0", b_base)
        elif self.dw and not library:
            names = {p.split(":")[0] for p in params} | {"acc", "a", "b", "rm", "rn", "rk", "k", "b_ptrs"}
            lines += depthwise_loop(self.dw, acc_type, self._precision(), b_base, names)
        elif mode in ("tma", "persistent", "streamk"):
            lines += [
                f"    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype={acc_type})",
                "    for k in range(0, tl.cdiv(K, BLOCK_K)):",
                "        a = a_desc.load([pid_m * BLOCK_M, k * BLOCK_K])",
                "        if B_KMAJOR:",
                "            b = tl.trans(b_desc.load([pid_n * BLOCK_N, k * BLOCK_K]))",
                "        else:",
                "            b = b_desc.load([k * BLOCK_K, pid_n * BLOCK_N])",
                f"        acc = tl.dot(a, b, acc{self._precision()})",
            ]
        elif not library:
            zero = "0.0" if self.dtype.is_float else "0"  # (an integer 0 does not convert to float 8)
            lines += [
                "    rk = tl.arange(0, BLOCK_K)",
                f"    a_ptrs = {a_base} + rm[:, None] * stride_am + rk[None, :] * stride_ak",
                f"    b_ptrs = {b_base} + rk[:, None] * stride_bk + rn[None, :] * stride_bn",
                f"    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype={acc_type})",
                "    for k in range(0, tl.cdiv(K, BLOCK_K)):",
                "        kmask = rk < K - k * BLOCK_K",
                f"        a = tl.load(a_ptrs, mask=(rm[:, None] < M) & kmask[None, :], other={zero})",
                f"        b = tl.load(b_ptrs, mask=kmask[:, None] & (rn[None, :] < N), other={zero})",
                *(
                    ["        a = (a.to(tl.int32) - 128).to(tl.int8)  # u8 rows, shifted into int8"]
                    if self.a_offset
                    else []
                ),
                *(["        bsum += tl.sum(b.to(tl.int32), axis=0)"] if self.corrected else []),
                f"        acc = tl.dot(a, b, acc{self._precision()})",
                "        a_ptrs += BLOCK_K * stride_ak",
                "        b_ptrs += BLOCK_K * stride_bk",
            ]
            if self.corrected:  # (a - z) @ b = (a - o) @ b + (o - z) * colsum(b)
                zero = (
                    f"tl.load(in{args.index(self.a_zero)}_ptr).to(tl.int32)"
                    if self.a_zero is not None
                    else str(self.a_zero_const)
                )
                at = lines.index(f"    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype={acc_type})")
                lines.insert(at + 1, "    bsum = tl.zeros((BLOCK_N,), dtype=tl.int32)")
                lines.append(f"    acc += ({self.a_offset} - {zero}) * bsum[None, :]")
        if split:  # (split_k: programs share a tile's reduction steps, the last runs the epilogue)
            lines = split_loop(lines)
            if mode == "pointers":  # the share's pointers start at its first step
                at = lines.index("    for k in range(k_lo, k_hi):")
                lines[at:at] = [
                    "    a_ptrs += k_lo * BLOCK_K * stride_ak",
                    "    b_ptrs += k_lo * BLOCK_K * stride_bk",
                ]
            lines += split_tail(acc_type, "pid")
        main_end = len(lines)
        sp = self.space
        seg_m = 0 if self.fold else 1
        if not self.fold:
            params += sp.size_params(0, "e")  # batch sizes in the epilogue space (same dims as b)
            lines += ["    " + ln for ln in sp.decompose(0, "batch", "e")]
        params += sp.size_params(seg_m, "m")
        prefixes = ["m", "n"] if self.fold else ["e", "m", "n"]
        offsets = []
        for j, a in enumerate(self.extra):
            off, ps = sp.offset(j, prefixes, f"in{args.index(a)}")
            params += ps
            offsets.append(off)
        used = {"acc", "acc_lo", "acc_hi", "a", "b", "k", "mask", "rm", "rn", "rk", "em", "en"}
        used |= {"pid", "batch"}
        used |= {"tl", "triton", "a_ptrs", "b_ptrs", "kmask", "bsum", "tile_id", "start_pid", "ks", "SPLIT_K"}
        used |= {"ws_ptr", "cnt_ptr", "k_lo", "k_hi", "tile", "slot", "part_ptr", "arrived", "j"}
        used |= _RESERVED | {p.split(":")[0] for p in params}  # a value named M or K never shadows them

        def epilogue(acc: str, rn: str, col: str | None = None) -> list[str]:
            """The epilogue on the tile ``acc`` (BLOCK_M x the columns ``rn``), indented one level.
            ``col``: the tile's first column, where TMA may store it (TMA_STORE)."""
            # the outputs' rows may be padded (stride_om >= N: ``row_stride``), and where their padding
            # may be written (N_out: the padded row, a multiple of 16) the stores are 16-byte vectors
            out_off = "em * stride_om + en" if self.fold else "batch * M * N + em * N + en"
            acc_off = "em * N + en" if self.fold else "batch * M * N + em * N + en"
            body = ["em = rm[:, None]", f"en = {rn}[None, :]", "mask = (em < M) & (en < N)"]
            body += ["out_mask = (em < M) & (en < N_out)"]
            if library:
                body += [f"{acc} = tl.load(acc_ptr + {acc_off}, mask=mask, other=0).to({acc_type})"]
            body += sp.decompose(seg_m, "em", "m") + sp.decompose(seg_m + 1, "en", "n")
            names: dict[Value, str] = {mm.results[0]: acc}
            fresh = namer(names, set(used))
            for j, (a, off) in enumerate(zip(self.extra, offsets)):
                i = args.index(a)
                side = _side_mask(sp, j, seg_m) if off != "0" else ""
                m = f", mask={side}, other=0.0" if side else ""
                ct = compute_type(a.type.dtype)  # type: ignore[attr-defined]
                body.append(f"{fresh(a, f'x{i}')} = tl.load(in{i}_ptr + {off}{m}).to({ct})")
            body += lower_elementwise(self.epilogue, names, fresh, mm)
            stores = [
                f"tl.store(out{i}_ptr + {out_off}, {names[v]}.to(out{i}_ptr.dtype.element_ty), mask=out_mask)"
                for i, v in enumerate(self.fused.yield_op().values)
            ]
            if col is None:
                body += stores
            else:  # a tensor descriptor writes the tile whole, clipped at the output's edges
                body += ["if TMA_STORE:"]
                body += [
                    f"    out{i}_desc.store([pid_m * BLOCK_M, {col}], {names[v]}.to(out{i}_ptr.dtype.element_ty))"
                    for i, v in enumerate(self.fused.yield_op().values)
                ]
                body += ["else:", *("    " + ln for ln in stores)]
            return ["    " + ln for ln in body]

        if mode in ("tma", "persistent", "streamk"):
            # SPLIT: the epilogue runs on the tile's two column halves in turn, so the registers its
            # temporaries need are half the tile's (long epilogues: requantizing, GELU)
            half = "pid_n * BLOCK_N + {} + tl.arange(0, BLOCK_N // 2)"
            lines += [
                "    if SPLIT:",
                "        acc_lo, acc_hi = tl.split(tl.permute(tl.reshape(acc, (BLOCK_M, 2, BLOCK_N // 2)), (0, 2, 1)))",
                *("    " + ln for ln in epilogue("acc_lo", "(" + half.format(0) + ")", "pid_n * BLOCK_N")),
                *(
                    "    " + ln
                    for ln in epilogue(
                        "acc_hi", "(" + half.format("BLOCK_N // 2") + ")", "pid_n * BLOCK_N + BLOCK_N // 2"
                    )
                ),
                "    else:",
                *("    " + ln for ln in epilogue("acc", "rn", "pid_n * BLOCK_N")),
            ]
        else:
            lines += epilogue("acc", "rn")
        if mode == "persistent":
            lines = persistent_loop(lines, main_end)
        elif mode == "streamk":
            lines = streamk_loop(lines, main_end)
        a_descs = [f"a{i}_desc" for i in range(len(self.pieces))] if self.pieces else ["a_desc"]
        descs = [*a_descs, "b_desc"] + [f"out{i}_desc" for i in range(n_out)]
        extra = {"pointers": [], "epilogue": ["acc_ptr"], "streamk": [*descs, "ws_ptr", "flags_ptr"]}.get(
            mode, descs
        )
        flags = {
            "tma": ["B_KMAJOR", "SPLIT", "TMA_STORE"],
            "persistent": ["B_KMAJOR", "NUM_SMS", "WS", "SPLIT", "TMA_STORE"],
            "streamk": ["B_KMAJOR", "SPLIT", "TMA_STORE"],
        }.get(mode, [])
        extra = [*extra, "ws_ptr", "cnt_ptr"] if split else extra
        flags += ["SPLIT_K"] if split else []
        return params + extra + _CONSTEXPRS + [f"{f}: tl.constexpr" for f in flags], lines

    @property
    def splittable(self) -> bool:
        """Whether tiles can share their reduction (``split_k``): float GEMMs with the batch folded."""
        return self.fold and self.dtype.is_float and not self.integer and not self.whole_only

    @property
    def whole_only(self) -> bool:
        """Whether the left operand is made in the kernel (joined or depthwise): whole tiles through
        pointers or TMA, no library, persistent, stream-K or split forms."""
        return bool(self.pieces or self.dw)

    def _descriptors(self, a: Any, b: Any, cfg: dict[str, int]) -> list[Any] | None:
        """The TMA variants' operand descriptors (``gemm_forms.operand_descriptors``); None for a
        batched GEMM, which runs through pointers."""
        return operand_descriptors(a, b, cfg) if self.fold else None

    def _precision(self) -> str:
        return dot_precision(self.dtype)

    def config_space(self, level: int) -> list[dict[str, int]]:
        from tritium.codegen.triton_env import persistent_available, sm_count, tma_available
        from tritium.codegen.tuning import matmul_space

        static = [d if isinstance(d, int) else 256 for d in self.out_shape]
        m = int(np.prod(static[:-1])) if self.fold else static[-2]
        k = self.anchor.operand(0).type.shape[-1]  # type: ignore[attr-defined]
        if self.dw:
            return depthwise_space(m, static[-1], k, level)
        space = matmul_space(m, static[-1], k if isinstance(k, int) else 256, self.dtype.itemsize, level)
        if self.fold and self.dtype.name in TMA_TYPES and not self.corrected and tma_available():
            # Tiles load by TMA (where TMA cannot address the operands at run time, the same tiles
            # load through pointers: timing both would time one kernel twice), then the persistent
            # form of the likeliest tiles that make more than one wave (two; three from level 3),
            # one (two) of them also warp-specialized (Triton's Hopper autoWS); pointer loads only
            # for the tiles TMA cannot take (rows of a tile under 32 bytes).
            tma = [{**c, "TMA": 1} for c in space if c["BLOCK_K"] * self.dtype.itemsize >= 32]
            # 128 x 128 x 64 at 2 stages with a TMA store (96 KB of shared memory): two blocks per SM,
            # one's epilogue running beside the other's products (H200, BERT's FFN1 + GELU: 0.0388
            # against 0.0415 ms at 3 stages, benchmarks/gemm_configs.py)
            two = {"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 64, "GROUP_M": 8, "num_warps": 4, "TMA": 1}
            if (
                not self.integer
                and {**two, "num_stages": 3} in tma[:6]
                and {**two, "num_stages": 2} not in tma
            ):
                tma.append({**two, "num_stages": 2})
            many = [c for c in tma if -(-m // c["BLOCK_M"]) * -(-static[-1] // c["BLOCK_N"]) > sm_count()]
            deep = level >= 3  # each extra form costs tuning time: a build out of budget stops tuning
            persistent = (
                [{**c, "PERSISTENT": 1} for c in many[: 3 if deep else 2]] if persistent_available() else []
            )
            if (
                self.dtype.itemsize == 1
            ):  # 8-bit 128x256x128 tiles overflow shared memory persistent at 3 stages
                persistent = [{**c, "num_stages": min(c["num_stages"], 2)} for c in persistent]
            # (Triton 3.6-3.9 fail to warp-specialize tiles whose constant K is one BLOCK_K)
            ws = [c for c in persistent if not (self.static_k and k <= c["BLOCK_K"])]
            persistent += [{**c, "WS": 1} for c in ws[: 2 if deep else 1]]
            # from level 3, a long epilogue (requantizing, GELU) also on column halves
            long_epilogue = deep and len(self.epilogue) >= 3
            split = [
                {**c, "SPLIT": 1} for c in [*tma[:2], *persistent[:2]] if long_epilogue and c["BLOCK_N"] >= 64
            ]
            # from level 3, stream-K for the two likeliest tiles where whole tiles would leave SMs idle
            # in the last wave (under 85% of it busy: BERT's 4096 x 768 GEMMs make 96 or 192 tiles).
            # On an H200 it still loses to the best whole tiles (BERT's FFN2 0.050 against 0.033 ms,
            # ViT-B/16's 0.064 against 0.060): handing the 128 x 256 partials over costs ~14 us there
            # (likely the float32 tile's layout conversions through shared memory, seen in the TTGIR)
            streamk = []
            if deep and not self.integer and persistent_available():
                for c in tma[:4]:
                    tiles = -(-m // c["BLOCK_M"]) * -(-static[-1] // c["BLOCK_N"])
                    busy = tiles / (sm_count() * -(-tiles // sm_count()))
                    if busy < 0.85 and len(streamk) < 2:
                        streamk.append({**c, "STREAMK": 1})
            pointers_only = [c for c in space if c["BLOCK_K"] * self.dtype.itemsize < 32]
            space = [
                store_by_tma(c, self.fused, self.dtype.itemsize) for c in tma + persistent + streamk + split
            ] + pointers_only
        if self.splittable and level >= 1:
            kk = k if isinstance(k, int) else 256
            space += split_candidates(space, m, static[-1], lambda c: -(-kk // c["BLOCK_K"]), sm_count())
        return whole_tiles(space) if self.pieces else space

    # -- launching ------------------------------------------------------------------------------------
    def __call__(self, inputs: list[Any], outputs: list[Any], config: dict[str, int] | None = None) -> None:
        from tritium.codegen.triton_env import load_source, use_interpreter

        cfg = dict(INTERPRETER_CONFIG if use_interpreter() else DEFAULT_CONFIG)
        cfg.update(config or {})
        inputs = [
            x if (i == self.b_index and x.dim() == 2) or x.is_contiguous() else x.contiguous()
            for i, x in enumerate(inputs)
        ]
        a, b = inputs[self.a_index], inputs[self.b_index]
        strides = {row_stride(y) for y in outputs}
        if len(strides) != 1 or None in strides or (not self.fold and not outputs[0].is_contiguous()):
            # outputs the kernel cannot address (unmergeable or different row strides): written dense
            dense = [y.new_empty(y.shape) for y in outputs]
            self(inputs, dense, config)
            for y, d in zip(outputs, dense):
                y.copy_(d)
            return
        product = None
        if cfg.get("LIBRARY"):
            product = self._library_product(inputs, outputs)
            if product is None:
                return  # the library call wrote the output
        descriptors = self._descriptors(a, b, cfg) if cfg.get("TMA") and product is None else None
        if descriptors and self.pieces:
            descriptors = piece_descriptors([inputs[i] for i in self.pieces], b, cfg)
        persistent = bool(descriptors and cfg.get("PERSISTENT"))
        streamk = bool(descriptors and cfg.get("STREAMK") and a.shape[-1] > 0)  # (K = 0: nothing to share)
        assert not (streamk and cfg.get("SPLIT")), "stream-K runs the epilogue on whole tiles"
        variant = "_persistent" if persistent else "_streamk" if streamk else "_tma" if descriptors else ""
        fn_name = self.name + ("_epilogue" if product is not None else variant)
        if self._fn is None:
            self._fn = load_source(self.source, self.name)
        fn = getattr(self._fn, fn_name)
        out_shape = tuple(outputs[0].shape)
        m, n, k = out_shape[-2], out_shape[-1], sum(self.widths) or a.shape[-1]
        batch = out_shape[:-2]
        if self.fold:
            m = int(np.prod(out_shape[:-1]))
        b_strides = [b.stride(0), b.stride(1)] if b.dim() == 2 else [n, 1]
        row = next(iter(strides))  # (the outputs' one row stride, checked above)
        n_out = row if cfg.get("PAD_STORES") and self.fold and row % 16 == 0 else n
        argv: list[Any] = [*inputs, *outputs, m, n, k, k, 1, *b_strides, row, n_out]
        if not self.fold:
            bs = self.batch_space
            assert bs is not None
            argv += bs.sizes(batch)[0][1:]
            for idx, x in ((0, a), (1, b)):
                shape = (1,) * (len(batch) - (x.dim() - 2)) + tuple(x.shape[:-2])
                mat = x.shape[-2] * x.shape[-1]
                dim_strides = [0] * len(batch)
                stride = mat
                for d in range(len(batch) - 1, -1, -1):
                    dim_strides[d] = 0 if shape[d] == 1 else stride
                    stride *= shape[d]
                argv += bs.group_strides(idx, dim_strides)
        sp = self.space
        sizes = sp.sizes(out_shape)
        if not self.fold:
            argv += sizes[0][1:]
        argv += sizes[0 if self.fold else 1][1:]
        args = list(self.fused.body.block.args)
        for j, e in enumerate(self.extra):
            argv += sp.strides(j, tuple(inputs[args.index(e)].shape), out_shape)
        nb = int(np.prod(batch)) if not self.fold else 1
        tiles = -(-m // cfg["BLOCK_M"]) * -(-n // cfg["BLOCK_N"])
        split_form = product is None and variant in ("", "_tma")
        split, workspace, split_flag = split_launch(self, cfg, tiles, a, applies=split_form)
        grid = (tiles, split if self.fold else max(nb, 1))
        flags = {"B_KMAJOR": k_major(b), "SPLIT": bool(cfg.get("SPLIT"))} if descriptors else {}
        flags.update(split_flag)
        if descriptors:
            stores = store_descriptors(outputs, cfg) if cfg.get("TMA_STORE") else None
            flags["TMA_STORE"] = stores is not None
            descriptors += stores or [None] * len(outputs)
        if persistent:
            from tritium.codegen.triton_env import sm_count

            flags["NUM_SMS"] = sm_count()
            flags["WS"] = bool(cfg.get("WS"))
            grid = (min(grid[0], flags["NUM_SMS"]), 1)
        elif streamk:
            from tritium.codegen.triton_env import sm_count

            flags["SPLIT"] = False
            programs = min(sm_count(), grid[0] * -(-k // cfg["BLOCK_K"]))  # each has a K iteration
            grid = (programs, 1)
            assert descriptors is not None
            descriptors += self._workspaces.get(cfg, sm_count(), a.device)
        fn[grid](
            *argv,
            *([] if product is None else [product]),
            *(descriptors or []),
            *workspace,
            BLOCK_M=cfg["BLOCK_M"],
            BLOCK_N=cfg["BLOCK_N"],
            BLOCK_K=cfg["BLOCK_K"],
            GROUP_M=cfg["GROUP_M"],
            num_warps=cfg["num_warps"],
            num_stages=cfg["num_stages"],
            **register_cap(cfg),
            **flags,
            **pdl_kwargs(grid),
        )
