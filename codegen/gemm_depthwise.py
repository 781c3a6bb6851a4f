"""The GEMM template's left operand computed by a depthwise convolution: ``matmul(act(dwconv(x)), W)``.

MobileNet's inverted residual blocks end in a depthwise convolution (with its ReLU6) that only the
pointwise projection reads, a GEMM over the pixels. Asked to, ``fuse-kernels`` puts the convolution
into the GEMM's kernel (``fusion_policy.depthwise_operand``), and the template computes each
[BLOCK_M pixels, BLOCK_K channels] tile of the operand where it would have loaded it: the taps'
input rows (channels contiguous: vector loads; neighbouring taps and tiles meet in L1 and L2) times
each channel's tap weight, plus the bias, then the activation, rounded to the operand's type as the
stored tensor would have been. The depthwise output (six times the block's channels in MobileNetV2)
is never written nor read back, and one kernel launch goes. Each column tile of the product
recomputes the operand, so the configs take the whole output width in one tile where it fits.
Whole tiles through pointers only: no TMA, persistent, stream-K, split or library forms.

An opt-in (``TRITIUM_DEPTHWISE_GEMM=1``): on an H100 it did not make MobileNetV2 faster, because a
program convolves all the channels of its rows in turn (``fusion_policy.depthwise_operand_pays``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tritium.codegen.indexing import Unsupported
from tritium.codegen.lowering import storage_type
from tritium.codegen.pointwise import lower_elementwise, namer
from tritium.ir.core import Operation, Value
from tritium.ir.dialects.nn.constant import Constant
from tritium.passes.fusion_policy import depthwise_chain, depthwise_operand

_NAMES = {"dw", "ch", "kmask", "ih", "iw", "row_ok", "ok", "pix", "xv", "wv", "r", "s"}
_NAMES |= {"dw_img", "dw_oh", "dw_ow"}
"""The loop's own variables, which the activation's never shadow."""


@dataclass
class DepthwiseOperand:
    conv: Operation
    chain: list[Operation]
    """The elementwise ops between the convolution and the product (its activation)."""
    x: int
    w: int
    bias: int | None
    """Block-argument indices of the convolution's input, weight [C, R, S, 1] and bias."""
    geometry: dict[str, int]

    @property
    def ops(self) -> list[Operation]:
        return [self.conv, *self.chain]

    @property
    def args(self) -> list[int]:
        return [self.x, self.w, *([] if self.bias is None else [self.bias])]


def depthwise_of(mm: Operation, args: list[Value]) -> DepthwiseOperand | None:
    """The depthwise convolution computing ``mm``'s left operand inside the kernel, else None."""
    found = depthwise_chain(mm.operand(0))
    if found is None:
        return None
    conv, chain = found
    why = depthwise_operand(conv, mm)
    if why is not None:
        raise Unsupported(why)
    x, w, b = conv.operand(0), conv.operand(1), conv.b  # type: ignore[attr-defined]
    if any(v is not None and v not in args for v in (x, w, b)):
        raise Unsupported("a depthwise GEMM operand's convolution inputs computed inside the kernel")
    n, h, wd, c = x.type.shape  # type: ignore[attr-defined]
    _, oh, ow, _ = conv.results[0].type.shape  # type: ignore[attr-defined]
    r, s = w.type.shape[1:3]  # type: ignore[attr-defined]
    a = conv.attributes
    strides, pads, dil = a.get("strides") or [1, 1], a.get("pads") or [0] * 4, a.get("dilations") or [1, 1]
    geometry = dict(N=n, H=h, W=wd, C=c, OH=oh, OW=ow, R=r, S=s, SH=strides[0], SW=strides[1])
    geometry.update(PH=pads[0], PW=pads[1], DH=dil[0], DW=dil[1])
    bias = args.index(b) if b is not None else None
    return DepthwiseOperand(conv, chain, args.index(x), args.index(w), bias, geometry)


def depthwise_loop(
    dw: DepthwiseOperand, acc_type: str, precision: str, b_base: str, used: set[str]
) -> list[str]:
    """The reduction over the channels, each step computing its operand tile (indented one level)."""
    g = dw.geometry
    x, w = f"in{dw.x}_ptr", f"in{dw.w}_ptr"
    wide = g["N"] * g["H"] * g["W"] * g["C"] >= 2**31  # (offsets past int32)
    img = "(rm // {}).to(tl.int64)" if wide else "rm // {}"
    names: dict[Value, str] = {dw.conv.results[0]: "dw"}
    fresh = namer(names, used | _NAMES)
    consts = [v.defining_op for op in dw.chain for v in op.operands if isinstance(v.defining_op, Constant)]
    activation = lower_elementwise([*dict.fromkeys(consts), *dw.chain], names, fresh, dw.conv)
    a = names[dw.chain[-1].results[0]] if dw.chain else "dw"
    operand = storage_type(dw.conv.results[0].type.dtype)  # type: ignore[attr-defined]
    lines = [
        "    rk = tl.arange(0, BLOCK_K)",
        f"    dw_img = {img.format(g['OH'] * g['OW'])}  # each row's output pixel: image, row, column",
        f"    dw_oh = rm % {g['OH'] * g['OW']} // {g['OW']}",
        f"    dw_ow = rm % {g['OW']}",
        f"    b_ptrs = {b_base} + rk[:, None] * stride_bk + rn[None, :] * stride_bn",
        f"    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype={acc_type})",
        "    for k in range(0, tl.cdiv(K, BLOCK_K)):",
        "        ch = k * BLOCK_K + rk",
        "        kmask = ch < K",
        f"        # the operand's tile: a {g['R']}x{g['S']} depthwise convolution of these channels at these pixels",
        "        dw = tl.zeros((BLOCK_M, BLOCK_K), dtype=tl.float32)",
        f"        for r in tl.static_range({g['R']}):",
        f"            ih = dw_oh * {g['SH']} + (r * {g['DH']} - {g['PH']})",
        f"            row_ok = (rm < M) & (ih >= 0) & (ih < {g['H']})",
        f"            for s in tl.static_range({g['S']}):",
        f"                iw = dw_ow * {g['SW']} + (s * {g['DW']} - {g['PW']})",
        f"                ok = row_ok & (iw >= 0) & (iw < {g['W']})",
        f"                pix = (dw_img * {g['H']} + ih) * {g['W']} + iw",
        f"                xv = tl.load({x} + pix[:, None] * {g['C']} + ch[None, :], mask=ok[:, None] & kmask[None, :], other=0.0)",
        f"                wv = tl.load({w} + ch * {g['R'] * g['S']} + (r * {g['S']} + s), mask=kmask, other=0.0)",
        "                dw += xv.to(tl.float32) * wv.to(tl.float32)[None, :]",
    ]
    if dw.bias is not None:
        lines.append(
            f"        dw += tl.load(in{dw.bias}_ptr + ch, mask=kmask, other=0.0).to(tl.float32)[None, :]"
        )
    lines += ["        " + ln for ln in activation]
    return lines + [
        f"        a = {a}.to({operand})  # as the depthwise output would have been stored",
        "        b = tl.load(b_ptrs, mask=kmask[:, None] & (rn[None, :] < N), other=0.0)",
        f"        acc = tl.dot(a, b, acc{precision})",
        "        b_ptrs += BLOCK_K * stride_bk",
    ]


def depthwise_space(m: int, n: int, k: int, level: int) -> list[dict[str, Any]]:
    """Tiles for the depthwise operand: as wide as the output where it fits (every column tile
    recomputes the convolution), channel steps of 32 or 64, the likeliest first."""
    wide = min(max(16, 1 << (n - 1).bit_length()), 256)
    space = []
    for bm, bn, bk, warps in (
        (64, wide, 32, 4),
        (128, wide, 32, 8),
        (32, wide, 64, 4),
        (64, min(wide, 128), 64, 4),
        (128, min(wide, 64), 32, 4),
        (64, wide, 16, 4),
    ):
        if bm * bn > 128 * 256 or bk > max(16, 1 << (k - 1).bit_length()):
            continue
        c = {"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk, "GROUP_M": 8, "num_warps": warps, "num_stages": 2}
        if c not in space:
            space.append(c)
    return space[: {0: 1, 1: 3, 2: 4}.get(level, len(space))]
