"""Implicit-GEMM 2-D convolution with an elementwise epilogue.

The convolution is a GEMM whose A matrix is never materialized: row m is an output pixel
(n, oh, ow), column j an output channel of the group, and the reduction index k = (c, r, s) walks the
input window. Each BLOCK_K step gathers the window elements straight from the input (padding by
masking) and the matching weights, then tl.dot accumulates in float32. The reduction index runs
channel-fastest when the input is channels-last (NHWC, contiguous loads along c) and window-fastest
for NCHW. Groups (depthwise included) are the second grid dimension. All tensors are addressed by
strides passed at launch, so the same kernel serves either memory layout.

Transposed convolutions (deconvolution, NCHW) use the same template as a gather: output pixel
(oh, ow) reads input pixel (ih, iw) through tap (r, s) when oh + pad - r * dilation = ih * stride;
taps that land between input pixels are masked.

On Hopper, unit-stride channels-last convolutions also have a TMA form (``conv_forms``): each
tap's A tile is one box of consecutive pixel rows, so no per-element address arithmetic.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from tritium.codegen.conv_forms import (
    WINDOW_SIZES,
    conv_descriptors,
    tma_form,
    tma_loop,
    tma_space,
    valid_loop,
    valid_rows,
)
from tritium.codegen.conv_library import LibraryConv
from tritium.codegen.gemm_forms import StreamKWorkspaces
from tritium.codegen.indexing import Space, Unsupported
from tritium.codegen.lowering import compute_type, dot_precision
from tritium.codegen.pointwise import jit_function, kernel_name, kernel_source, lower_elementwise, namer
from tritium.codegen.split_k import reduction_steps, split_candidates, split_launch, split_loop, split_tail
from tritium.codegen.triton_env import constexpr_sizes, pdl_kwargs, register_cap
from tritium.ir.core import Value
from tritium.ir.dialects.kernel import Fused, Yield
from tritium.ir.dialects.nn.constant import Constant
from tritium.ir.types import TensorType
from tritium.passes.fusion_policy import classify

DEFAULT_CONFIG = {"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 32, "num_warps": 4, "num_stages": 3}
INTERPRETER_CONFIG = {"BLOCK_M": 32, "BLOCK_N": 16, "BLOCK_K": 16, "num_warps": 4, "num_stages": 1}
_CONSTEXPRS = [f"{p}: tl.constexpr" for p in ("BLOCK_M", "BLOCK_N", "BLOCK_K", "EVEN_C")]


def _shape(v: Value) -> tuple:
    t = v.type
    if not isinstance(t, TensorType) or t.shape is None or not t.is_static:
        raise Unsupported(f"conv kernels need static shapes, found {t}")
    return t.shape


class ConvKernel(LibraryConv):
    kind = "implicit_gemm_conv"
    tactic_source = "cudnn"

    def __init__(self, fused: Fused) -> None:
        self.fused = fused
        body = [op for op in fused.body.block.ops if not isinstance(op, (Yield, Constant))]
        anchors = [
            op
            for op in body
            if op.name in ("nn.conv", "nn.conv_transpose", "nn.conv_integer", "nn.conv_float8")
        ]
        if len(anchors) != 1 or any(classify(op) != "elementwise" for op in body if op is not anchors[0]):
            raise Unsupported("not a conv with elementwise ops")  # (ops before it compute epilogue inputs)
        self.conv = cv = anchors[0]
        self.transposed = cv.name == "nn.conv_transpose"
        """A transposed convolution (deconvolution), NCHW: the same implicit GEMM, gathering for each
        output pixel the input pixels whose scatter reaches it (weight layout (C, M / group, R, S))."""
        self.layout = cv.attributes.get("layout", "NCHW")
        x_shape, _w_shape = _shape(cv.operand(0)), _shape(cv.operand(1))
        if len(x_shape) != 4:
            raise Unsupported("only 2-D convolutions have a generated kernel")
        dt = cv.operand(0).type.dtype  # type: ignore[attr-defined]
        self.integer = cv.name == "nn.conv_integer"
        """i8 or u8 x i8 (nn.conv_integer, from lower-quant): int32 accumulation on the int8 tensor
        cores, the dequantizing scale in the epilogue (float 8, nn.conv_float8: f32 sums)."""
        if not dt.is_float and not self.integer:
            raise Unsupported("integer convolutions run on the host")
        self.dtype = dt
        self.zero = "0.0" if dt.is_float else "0"  # masked loads' padding (0 -> float 8: no)
        args = list(fused.body.block.args)
        self.x_shift, self.x_zero = 0, "0"
        """u8 inputs load shifted by ``x_shift`` (128) into int8, and an input zero point ``x_zero`` (a
        literal, or the load of a one-element input) pads the window: sum (x - z) w = sum (x - shift) w
        + (shift - z) colsum(w), the padding at x = z contributing nothing."""
        if self.integer:
            self._integer_operands(cv, args, dt)
        for v in cv.operands:
            if v is not None and v not in args and (not self.integer or v is not cv.x_zero_point):  # type: ignore[attr-defined]
                raise Unsupported("conv operands computed inside the kernel")
        self.x_i, self.w_i = args.index(cv.operand(0)), args.index(cv.operand(1))
        self.b_i = args.index(cv.operand(2)) if cv.num_operands > 2 and not self.integer else None
        self.out_shape = _shape(cv.results[0])
        for v in fused.yield_op().values:
            if _shape(v) != self.out_shape:
                raise Unsupported("a kernel result that is not the conv's output shape")
        self.epilogue = [op for op in fused.body.block.ops if op is not cv and not isinstance(op, Yield)]
        conv_ins = {self.x_i, self.w_i} | ({self.b_i} if self.b_i is not None else set())
        zx = cv.x_zero_point if self.integer else None  # type: ignore[attr-defined]
        conv_ins |= {args.index(zx)} if zx in args else set()
        self.acc_type = "tl.int32" if self.integer else "tl.float32"
        self.extra = [a for i, a in enumerate(args) if i not in conv_ins]
        if any(v in args and v not in self.extra for op in self.epilogue for v in op.operands):
            raise Unsupported("the epilogue reads an operand of the convolution itself")
        # Logical output dims: (n, k, oh, ow) for NCHW, (n, oh, ow, k) for NHWC.
        kdim = 1 if self.layout == "NCHW" else 3
        mdims = [d for d in range(4) if d != kdim]
        self.space = Space(
            self.out_shape, [("m", mdims), ("n", [kdim])], [_shape(a) for a in self.extra] + [self.out_shape]
        )
        self.name = kernel_name(fused)
        pads = list(cv.attributes["pads"])
        symmetric = pads[:2] == pads[2:]
        self.library = "cudnn" if dt.name in ("f16", "bf16") and symmetric and not self.transposed else None
        """The library tactic (torch's conv2d: cuDNN on the GPU) when it can stand in: f16/bf16 (f32
        would round through TF32 by torch's default) and symmetric padding."""
        self.library_form = self._library_form()
        """What cuDNN computes of the kernel (``conv_library``): all of it, or the product for the
        generated epilogue twin."""
        tma_ok = dt.name in ("f16", "bf16", "f8E4M3FN", "f8E5M2") or (dt.name == "i8" and not self.corrected)
        self.tma = tma_form(cv, x_shape, self.out_shape, _w_shape, dt.itemsize) if tma_ok else None
        """The TMA form generated beside the pointer kernel (``conv_forms``: pixel-row boxes per tap;
        "same" or "valid"), or None. Integer convolutions have one when no zero point corrects them
        (int8 x int8, int32 accumulators)."""
        plain = not (self.depthwise or self.transposed or self.integer)
        self.splittable = self.layout == "NHWC" and _w_shape[3] >= 16 and plain
        """Whether the tiles can share their reduction (``split_k``): channels-last, one tap's
        channels (16 or more) per step, float sums (integer ones would need an int32 workspace)."""
        self._workspaces = StreamKWorkspaces()  # split-K's partial sums and counters
        self.source = self._generate()
        self._fn: Any = None

    def _integer_operands(self, cv: Any, args: list[Value], dt: Any) -> None:
        from tritium.ir.opdef import constant_value

        zx, zw = cv.x_zero_point, cv.w_zero_point
        if dt.name not in ("i8", "ui8") or cv.operand(1).type.dtype.name != "i8" or zw is not None:
            raise Unsupported(
                "integer convolutions other than i8 or u8 x i8 without a weight zero point run on the host"
            )
        self.x_shift = 128 if dt.name == "ui8" else 0
        if zx is None:
            return
        value = constant_value(zx)
        if value is not None and value.size == 1:
            self.x_zero = str(int(value.reshape(-1)[0]))
        elif zx in args and getattr(zx.type, "numel", None) == 1:
            self.x_zero = f"tl.load(in{args.index(zx)}_ptr).to(tl.int32)"
        else:
            raise Unsupported("integer convolution with a per-element input zero point runs on the host")

    @property
    def corrected(self) -> bool:
        """Whether the product needs the column-sum correction (u8 inputs or a zero point)."""
        return self.integer and (self.x_shift != 0 or self.x_zero != "0")

    def _generate(self) -> str:
        params, body = self._kernel_text("pointers")
        self.params = [p for p in params if not p.endswith("tl.constexpr")]
        title = f"implicit-GEMM conv kernel '{self.name}' ({self.layout})"
        more = []
        if self.tma:
            more.append(jit_function(self.name + "_tma", *self._kernel_text("tma")))
            title += ", its TMA variant (Hopper: pixel-row tiles loaded by tensor descriptors)"
        if self.library_twin:
            more.append(jit_function(self.name + "_epilogue", *self._kernel_text("epilogue")))
            title += " and its epilogue alone (the cuDNN tactic: a library call computes the convolution)"
        return kernel_source(title, self.fused, self.name, params, body, after="\n\n".join(more))

    def _kernel_text(self, mode: str) -> tuple[list[str], list[str]]:
        """The jitted function: the implicit GEMM then the epilogue, its tiles loaded through pointers
        ("pointers") or tensor descriptors ("tma": ``x_desc``, ``w_desc``), or the epilogue alone
        ("epilogue"), reading the convolution (without bias) from ``acc_ptr`` (laid out as the output)."""
        library = mode == "epilogue"
        cv, args = self.conv, list(self.fused.body.block.args)
        n_out = len(self.fused.results)
        params = [f"in{i}_ptr" for i in range(len(args))] + [f"out{i}_ptr" for i in range(n_out)]
        const = constexpr_sizes("conv")
        sizes = {p: f"{p}: tl.constexpr" if const else p for p in WINDOW_SIZES}
        params += [
            "M",
            "NG",
            sizes["KRED"],
            "OH",
            "OW",
            "H",
            "W",
            sizes["CG"],
            sizes["R"],
            sizes["S"],
            "xs_n",
            "xs_c",
            "xs_h",
            "xs_w",
            "ws_k",
            "ws_c",
            "ws_r",
            "ws_s",
        ]
        sh, sw = cv.attributes["strides"]
        ph, pw = cv.attributes["pads"][:2]
        dh, dw = cv.attributes["dilations"]
        w_shape = _shape(cv.operand(1))
        cg = w_shape[3] if self.layout == "NHWC" else w_shape[1]
        if self.layout == "NHWC":  # channel-fastest reduction index: contiguous loads along c
            decomp = ["r = rk // (S * CG)", "rem = rk % (S * CG)", "s = rem // CG", "c = rem % CG"]
        else:
            decomp = ["c = rk // (R * S)", "rem = rk % (R * S)", "r = rem // S", "s = rem % S"]
        # Channels-last with enough channels per group: step tap by tap over channel blocks. With few
        # (a network's RGB stem), step window row by window row: a row's taps and channels are one
        # contiguous run of S * CG elements. NCHW: one flat loop over the whole window.
        self.rowwise = self.layout == "NHWC" and cg < 16 and not self.depthwise
        if mode == "tma":
            prec = dot_precision(self.dtype)
            loop = tma_loop(dh, dw, ph, pw, self.acc_type, prec) if self.tma == "same" else valid_loop(prec)
        elif self.transposed:
            loop = self._transposed_loop(sh, sw, ph, pw, dh, dw)
        elif self.depthwise:
            loop = self._depthwise_loop(dh, dw)
        elif self.layout == "NHWC" and cg >= 16:
            loop = self._nhwc_loop(dh, dw)
        elif self.rowwise:
            loop = self._row_loop(dh, dw)
        else:
            loop = self._flat_loop(decomp, dh, dw)
        if self.corrected:
            loop = self._corrected(loop)
        split = self.splittable and not library
        if split:
            loop = split_loop(loop)
        one_launch = self.depthwise or cv.attributes.get("group", 1) == 1
        lines = [
            "    pid = tl.program_id(0)",
            "    g = tl.program_id(1)",
            *(["    ks = tl.program_id(2)  # the tile's share of the reduction (SPLIT_K)"] if split else []),
            "    num_pid_n = tl.cdiv(NG, BLOCK_N)",
            "    pid_m = pid // num_pid_n",
            "    pid_n = pid % num_pid_n",
            "    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)",
            "    rj = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)",
            # (one group, or a depthwise launch over every channel: g = 0. Without it in the
            # addresses the compiler can prove the channel loads aligned and vectorizes them: 8
            # halves a load instead of one, MobileNetV2's depthwise convolutions 1.8-2x faster)
            "    kout = rj" if one_launch else "    kout = g * NG + rj",
            "    n_img = rm // (OH * OW)",
            "    ohw = rm % (OH * OW)",
            f"    ih0 = (ohw // OW) * {sh} - {ph}",
            f"    iw0 = (ohw % OW) * {sw} - {pw}",
        ]
        if mode == "pointers":
            group_base = "" if one_launch else " + (g * CG).to(tl.int64) * xs_c"
            lines.append(f"    x_base = in{self.x_i}_ptr + n_img.to(tl.int64) * xs_n{group_base}")
        if not library:
            lines += [f"    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype={self.acc_type})", *loop]
            lines += split_tail(self.acc_type, "g * tl.num_programs(0) + pid") if split else []
        if mode == "tma" and self.tma == "valid":  # virtual rows: one per input pixel
            lines += valid_rows()
        else:
            lines += [
                "    em = rm[:, None]",
                "    en = kout[None, :]",
                "    mask = (em < M) & (rj[None, :] < NG)",
            ]
        sp = self.space
        out_off, out_ps = sp.offset(len(self.extra), ["m", "n"], "out")
        params += sp.size_params(0, "m")
        lines += ["    " + ln for ln in sp.decompose(0, "em", "m")]
        lines += ["    " + ln for ln in sp.decompose(1, "en", "n")]
        names: dict[Value, str] = {}
        used = {"acc", "a", "b", "c", "r", "s", "g", "ks", "rk", "rm", "rj", "em", "en", "mask", "pid", "tl"}
        used |= {"triton", "kout", "bias", "zx", "bsum", "acc_ptr", "ws_ptr", "cnt_ptr", "x_desc", "w_desc"}
        used |= {"BLOCK_M", "BLOCK_N", "BLOCK_K", "EVEN_C", "SPLIT_K", "XW", "vi", "vj", "vok"}
        used |= {"k_lo", "k_hi", "tile", "slot", "part_ptr", "arrived", "j"}  # split-K's
        used |= {p.split(":")[0] for p in params}
        used |= {f"{d}{i}" for d in "mn" for i in range(8)}  # never shadow a parameter or index name
        fresh = namer(names, used)

        conv_out = fresh(cv.results[0], "y")
        if library:
            lines.append(f"    acc = tl.load(acc_ptr + {out_off}, mask=mask, other=0).to({self.acc_type})")
        if self.b_i is not None:
            lines.append(
                f"    bias = tl.load(in{self.b_i}_ptr + en, mask=rj[None, :] < NG, other=0.0).to(tl.float32)"
            )
            lines.append(f"    {conv_out} = acc + bias")
        else:
            lines.append(f"    {conv_out} = acc")
        for j, a in enumerate(self.extra):
            i = args.index(a)
            off, ps = sp.offset(j, ["m", "n"], f"in{i}")
            params += ps
            # a row (per channel) or a column broadcast over the tile loads once per column or row
            side = (
                "mask"
                if sp.varies(j, 0) and sp.varies(j, 1)
                else "em < M"
                if sp.varies(j, 0)
                else "rj[None, :] < NG"
            )
            m = f", mask={side}, other=0.0" if off != "0" else ""
            lines.append(
                f"    {fresh(a, f'x{i}')} = tl.load(in{i}_ptr + {off}{m}).to({compute_type(a.type.dtype)})"
            )  # type: ignore[attr-defined]
        lines += ["    " + ln for ln in lower_elementwise(self.epilogue, names, fresh, cv)]
        params += out_ps
        for i, v in enumerate(self.fused.yield_op().values):
            lines.append(
                f"    tl.store(out{i}_ptr + {out_off}, {names[v]}.to(out{i}_ptr.dtype.element_ty), mask=mask)"
            )
        extra = ["acc_ptr"] if library else ["x_desc", "w_desc"] if mode == "tma" else []
        extra += ["XW"] if mode == "tma" and self.tma == "valid" else []
        extra += ["ws_ptr", "cnt_ptr"] if split else []
        return params + extra + _CONSTEXPRS + (["SPLIT_K: tl.constexpr"] if split else []), lines

    @property
    def depthwise(self) -> bool:
        """One input and one output channel per group, channels-last: a direct (no-GEMM) kernel
        whose N dimension is the channel, all groups in one launch."""
        w = _shape(self.conv.operand(1))
        group = self.conv.attributes.get("group", 1)
        return self.layout == "NHWC" and w[3] == 1 and group == w[0] and group > 1

    def _depthwise_loop(self, dh: int, dw: int) -> list[str]:
        """Each tap multiplies BLOCK_M pixels by BLOCK_N channels' weights and accumulates: loads
        are contiguous along the channels."""
        return [
            "    m_ok = rm < M",
            "    j_ok = rj < NG",
            "    for r in range(0, R):",
            f"        ih = ih0 + r * {dh}",
            "        for s in range(0, S):",
            f"            iw = iw0 + s * {dw}",
            "            row_ok = m_ok & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)",
            "            a = tl.load(x_base[:, None] + (ih * xs_h + iw * xs_w)[:, None] + kout[None, :] * xs_c,"
            f" mask=row_ok[:, None] & j_ok[None, :], other={self.zero})",
            f"            b = tl.load(in{self.w_i}_ptr + kout * ws_k + r * ws_r + s * ws_s, mask=j_ok, other={self.zero})",
            f"            acc += a.to({self.acc_type}) * b.to({self.acc_type})[None, :]",
        ]

    def _flat_loop(self, decomp: list[str], dh: int, dw: int) -> list[str]:
        """One flat loop over the reduction index k (c, r, s in the layout's order): each step
        gathers a [BLOCK_M, BLOCK_K] window tile."""
        return [
            "    for k0 in range(0, KRED, BLOCK_K):",
            "        rk = k0 + tl.arange(0, BLOCK_K)",
            *["        " + d for d in decomp],
            f"        ih = ih0[:, None] + r[None, :] * {dh}",
            f"        iw = iw0[:, None] + s[None, :] * {dw}",
            "        a_mask = (rm[:, None] < M) & (rk[None, :] < KRED) & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)",
            f"        a = tl.load(x_base[:, None] + c[None, :] * xs_c + ih * xs_h + iw * xs_w, mask=a_mask, other={self.zero})",
            "        b_mask = (rk[:, None] < KRED) & (rj[None, :] < NG)",
            f"        b = tl.load(in{self.w_i}_ptr + kout[None, :] * ws_k + c[:, None] * ws_c + r[:, None] * ws_r"
            f" + s[:, None] * ws_s, mask=b_mask, other={self.zero})",
            f"        acc = tl.dot(a, b, acc{dot_precision(self.dtype)})",
        ]

    def _corrected(self, loop: list[str]) -> list[str]:
        """The loop with an input zero point: the window pads with it (masked loads give it), and
        either each input is shifted by it exactly (the depthwise kernel multiplies in int32), or,
        on the int8 tensor cores, u8 inputs are shifted by 128 into int8, each step adds the weight
        tile's column sums, and the product is corrected after the loop."""
        load = next(i for i, ln in enumerate(loop) if ln.lstrip().startswith("a = tl.load("))
        assert loop[load].endswith("other=0)"), loop[load]
        out = list(loop)
        out[load] = loop[load][: -len("other=0)")] + "other=zx)"
        head = ["    zx = " + self.x_zero]
        indent = loop[load][: len(loop[load]) - len(loop[load].lstrip())]
        if self.depthwise:
            out.insert(load + 1, indent + "a = a.to(tl.int32) - zx")
            return head + out
        dot = next(i for i, ln in enumerate(out) if ln.lstrip().startswith("acc = tl.dot("))
        indent = out[dot][: len(out[dot]) - len(out[dot].lstrip())]
        fix = (
            [indent + f"a = (a.to(tl.int32) - {self.x_shift}).to(tl.int8)  # u8, shifted"]
            if self.x_shift
            else []
        )
        out[dot:dot] = [*fix, indent + "bsum += tl.sum(b.to(tl.int32), axis=0)"]
        tail = [f"    acc += ({self.x_shift} - zx) * bsum[None, :]"]
        return [*head, "    bsum = tl.zeros((BLOCK_N,), dtype=tl.int32)", *out, *tail]

    def _transposed_loop(self, sh: int, sw: int, ph: int, pw: int, dh: int, dw: int) -> list[str]:
        """Deconvolution as a gather: output pixel (oh, ow) takes input pixel (ih, iw) through tap
        (r, s) when oh + ph - r * dh == ih * sh (and the same across), so each BLOCK_K step loads the
        input elements whose scatter lands on the tile's pixels, masking the taps that fall between
        input pixels or outside the input."""
        return [
            "    oh = ohw // OW",
            "    ow = ohw % OW",
            "    for k0 in range(0, KRED, BLOCK_K):",
            "        rk = k0 + tl.arange(0, BLOCK_K)",
            "        c = rk // (R * S)",
            "        rem = rk % (R * S)",
            "        r = rem // S",
            "        s = rem % S",
            f"        th = oh[:, None] + {ph} - r[None, :] * {dh}",
            f"        tw = ow[:, None] + {pw} - s[None, :] * {dw}",
            f"        ih = th // {sh}",
            f"        iw = tw // {sw}",
            "        a_mask = (rm[:, None] < M) & (rk[None, :] < KRED) & (th >= 0) & (tw >= 0)",
            f"        a_mask = a_mask & (th % {sh} == 0) & (tw % {sw} == 0) & (ih < H) & (iw < W)",
            f"        a = tl.load(x_base[:, None] + c[None, :] * xs_c + ih * xs_h + iw * xs_w, mask=a_mask, other={self.zero})",
            "        b_mask = (rk[:, None] < KRED) & (rj[None, :] < NG)",
            f"        b = tl.load(in{self.w_i}_ptr + rj[None, :] * ws_k + (g * CG + c[:, None]) * ws_c + r[:, None] * ws_r"
            f" + s[:, None] * ws_s, mask=b_mask, other={self.zero})",
            f"        acc = tl.dot(a, b, acc{dot_precision(self.dtype)})",
        ]

    def _row_loop(self, dh: int, dw: int) -> list[str]:
        """Channels-last with few channels: for each window row r, the (s, c) pairs of the row are
        one reduction block of S * CG elements, contiguous in the input (and in the weight) for
        unit dilation; index math once per block, not per step."""
        return [
            "    m_ok = rm < M",
            "    j_ok = rj < NG",
            f"    w_base = in{self.w_i}_ptr + kout.to(tl.int64) * ws_k",
            "    for k0 in range(0, S * CG, BLOCK_K):",
            "        jj = k0 + tl.arange(0, BLOCK_K)",
            "        s = jj // CG",
            "        c = jj - s * CG",
            "        col_ok = jj < S * CG",
            f"        iw = iw0[:, None] + s[None, :] * {dw}",
            "        a_cols = col_ok[None, :] & (iw >= 0) & (iw < W)",
            "        a_off = iw * xs_w + c[None, :] * xs_c",
            "        b_off = s[:, None] * ws_s + c[:, None] * ws_c",
            "        b_mask = col_ok[:, None] & j_ok[None, :]",
            "        for r in range(0, R):",
            f"            ih = ih0 + r * {dh}",
            "            a_mask = (m_ok & (ih >= 0) & (ih < H))[:, None] & a_cols",
            f"            a = tl.load(x_base[:, None] + (ih * xs_h)[:, None] + a_off, mask=a_mask, other={self.zero})",
            f"            b = tl.load(w_base[None, :] + r * ws_r + b_off, mask=b_mask, other={self.zero})",
            f"            acc = tl.dot(a, b, acc{dot_precision(self.dtype)})",
        ]

    def _nhwc_loop(self, dh: int, dw: int) -> list[str]:
        """Channels-last: step over (r, s, channel block) with scalar index math; each step loads
        rows of BLOCK_K contiguous channels (one window tap for BLOCK_M pixels) and the matching
        weight slice, masks only by the tap's bounds (and by the channel count unless it divides)."""
        return [
            "    rc = tl.arange(0, BLOCK_K)",
            "    m_ok = rm < M",
            "    j_ok = rj < NG",
            f"    w_base = in{self.w_i}_ptr + kout.to(tl.int64) * ws_k",
            "    ncb = tl.cdiv(CG, BLOCK_K)",
            "    for kk in range(0, R * S * ncb):",
            "        rs = kk // ncb",
            "        c0 = (kk - rs * ncb) * BLOCK_K",
            "        r = rs // S",
            "        s = rs - r * S",
            f"        ih = ih0 + r * {dh}",
            f"        iw = iw0 + s * {dw}",
            "        row_ok = m_ok & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)",
            "        cc = c0 + rc",
            "        if EVEN_C:",
            "            a_mask = row_ok[:, None]",
            "            b_mask = j_ok[None, :]",
            "        else:",
            "            a_mask = row_ok[:, None] & (cc[None, :] < CG)",
            "            b_mask = (cc[:, None] < CG) & j_ok[None, :]",
            f"        a = tl.load(x_base[:, None] + (ih * xs_h + iw * xs_w)[:, None] + cc[None, :] * xs_c, mask=a_mask, other={self.zero})",
            f"        b = tl.load(w_base[None, :] + r * ws_r + s * ws_s + cc[:, None] * ws_c, mask=b_mask, other={self.zero})",
            f"        acc = tl.dot(a, b, acc{dot_precision(self.dtype)})",
        ]

    def config_space(self, level: int) -> list[dict[str, int]]:
        from tritium.codegen.triton_env import sm_count, tma_available
        from tritium.codegen.tuning import matmul_space

        if self.depthwise:  # no reduction tile: pixels x channels blocks
            tiles = [(64, 64), (32, 128), (128, 32), (128, 64), (64, 128), (32, 64)]
            return [
                {"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": 16, "num_warps": 4, "num_stages": 1}
                for bm, bn in tiles[: 2 + 2 * max(level, 0)]
            ]
        w = self.conv.operand(1).type.shape  # type: ignore[attr-defined]
        group = self.conv.attributes.get("group", 1)
        kdim = 1 if self.layout == "NCHW" else 3
        m = self.out_shape[0] * (
            self.out_shape[2] * self.out_shape[3] if kdim == 1 else self.out_shape[1] * self.out_shape[2]
        )
        kred = w[2] * w[3] if self.rowwise else w[1] * w[2] * w[3]  # per step: one window row (S x C/g)
        if self.layout == "NHWC" and not self.rowwise:
            kred = w[3]  # each step reads one tap's channels: BLOCK_K beyond them is masked work
        if self.transposed:  # weight (C, M / group, R, S): the reduction runs over C / group
            kred = w[0] // group * w[2] * w[3]
        if self.tma == "valid" and tma_available():
            kred = w[2] * w[3]  # the TMA form's steps read window rows (S taps of C channels)
        space = matmul_space(m, self.out_shape[kdim] // group, kred, self.dtype.itemsize, level)
        if self.tma and tma_available():
            space = tma_space(space, self.tma, w[3], kred, self.dtype.itemsize, self.out_shape[kdim] // group)
        if self.splittable and level >= 1:
            steps = partial(reduction_steps, window=(w[1], w[2], w[3]), form=self.tma)
            space += split_candidates(space, m, self.out_shape[kdim] // group, steps, sm_count(), group)
        return space

    def __call__(
        self, inputs: list[Any], outputs: list[Any], config: dict[str, int] | None = None
    ) -> list[Any] | None:
        """Launch the kernel into ``outputs``; a library form that allocates its result returns it."""
        from tritium.codegen.triton_env import load_source, use_interpreter

        cfg = dict(INTERPRETER_CONFIG if use_interpreter() else DEFAULT_CONFIG)
        cfg.update(config or {})
        if cfg.get("LIBRARY") and self.library_form in ("conv", "relu", "add_relu"):
            return [self._library_result(inputs)]  # the runtime takes it as the kernel's output
        x, w = inputs[self.x_i], inputs[self.w_i]
        product = self._library_conv(x, w) if cfg.get("LIBRARY") else None
        made = (
            conv_descriptors(x, w, cfg, self.tma) if self.tma and cfg.get("TMA") and product is None else None
        )
        descriptors = None if made is None else made[0] + ([made[1]] if self.tma == "valid" else [])
        if self._fn is None:
            self._fn = load_source(self.source, self.name)
        variant = "_epilogue" if product is not None else "_tma" if descriptors else ""
        fn = getattr(self._fn, self.name + variant)
        group = self.conv.attributes.get("group", 1)
        if self.layout == "NHWC":
            n, h, wd, _c = x.shape
            k, r, s, cg = w.shape
            _, oh, ow, _ = self.out_shape
            xs = x.stride()
            xs_n, xs_h, xs_w, xs_c = xs
            ws_k, ws_r, ws_s, ws_c = w.stride()
        elif self.transposed:
            n, _c, h, wd = x.shape
            cin, mg, r, s = w.shape
            k, cg = mg * group, cin // group
            _, _, oh, ow = self.out_shape
            xs_n, xs_c, xs_h, xs_w = x.stride()
            ws_c, ws_k, ws_r, ws_s = w.stride()
        else:
            n, _c, h, wd = x.shape
            k, cg, r, s = w.shape
            _, _, oh, ow = self.out_shape
            xs_n, xs_c, xs_h, xs_w = x.stride()
            ws_k, ws_c, ws_r, ws_s = w.stride()
        m = n * h * wd if descriptors and self.tma == "valid" else n * oh * ow  # ("valid": virtual rows)
        ng = k // group
        if self.depthwise:  # all channels in one launch: the group index is the channel
            ng, group = k, 1
        argv: list[Any] = [
            *inputs,
            *outputs,
            m,
            ng,
            cg * r * s,
            oh,
            ow,
            h,
            wd,
            cg,
            r,
            s,
            xs_n,
            xs_c,
            xs_h,
            xs_w,
            ws_k,
            ws_c,
            ws_r,
            ws_s,
        ]
        sp = self.space
        argv += sp.sizes(self.out_shape)[0][1:]
        args = list(self.fused.body.block.args)
        for j, e in enumerate(self.extra):
            argv += sp.strides(j, tuple(inputs[args.index(e)].shape), self.out_shape)
        argv += sp.strides(len(self.extra), self.out_shape, self.out_shape)
        tiles = -(-m // cfg["BLOCK_M"]) * -(-ng // cfg["BLOCK_N"])
        split, workspace, split_flag = split_launch(self, cfg, tiles * group, x, applies=product is None)
        grid = (tiles, group, split)
        fn[grid](
            *argv,
            *([] if product is None else [product]),
            *(descriptors or []),
            *workspace,
            BLOCK_M=cfg["BLOCK_M"],
            BLOCK_N=cfg["BLOCK_N"],
            BLOCK_K=cfg["BLOCK_K"],
            EVEN_C=cg % cfg["BLOCK_K"] == 0,
            **split_flag,
            num_warps=cfg["num_warps"],
            num_stages=cfg["num_stages"],
            **register_cap(cfg),
            **pdl_kwargs(grid),
        )
