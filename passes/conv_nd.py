"""lower-conv-nd: 1-D and 3-D (transposed) convolutions and 1-D pooling as the 2-D ops the kernel
templates have.

A 1-D convolution (or transposed convolution, or pooling window) is the 2-D one over a height of 1,
which is how TensorRT runs them too; the reshapes around it are views:

    %y = nn.conv %x, %w {strides = [s], pads = [p0, p1], dilations = [d]}     (x: [N, C, L])
 ->
    %x4 = nn.unsqueeze %x, [2]                                                (x4: [N, C, 1, L])
    %w4 = nn.unsqueeze %w, [2]
    %y4 = nn.conv %x4, %w4 {strides = [1, s], pads = [0, p0, 0, p1], dilations = [1, d]}
    %y  = nn.squeeze %y4, [2]

A 3-D convolution (NCDHW, weight [M, C/g, T, R, S]) is a sum over its T depth taps of 2-D
convolutions: tap t reads the input depths od * sd + t * dd - pd of every output depth od, as one
batch of N * OD images, with the weight's t-th slice:

    xl = pad_depth(transpose(x, [0, 2, 3, 4, 1]))                  (channels-last: [N, D', H, W, C])
    xt = reshape(slice(xl, axis 1, from t * dd, step sd), [N * OD, H, W, C])      (NHWC images)
    y  = sum_t conv2d_nhwc(xt, w[:, :, t]) (+ b)  ->  transpose(reshape(y, [N, OD, OH, OW, M]), [0, 4, 1, 2, 3])

Each tap's convolution is one generated channels-last implicit-GEMM kernel whose epilogue adds the
running sum (the fuser's residual add), so the FLOPs are the 3-D convolution's; what moves is the
input once into channels-last, one depth slice per tap, and the output back.

A 3-D transposed convolution (weight [C, M/g, T, R, S]) is, per depth tap t, one 2-D transposed
convolution of all N * D input depth slices with the weight's t-th slice; input depth d lands on
output depth d * sd + t * dd - pd, so each tap's result is spread sd apart (zero rows between) and
shifted by t * dd (zeros in front) before the taps are summed and cropped:

    z_t = reshape(conv_transpose2d(reshape(transpose(x, [0, 2, 1, 3, 4]), [N * D, C, H, W]), w[:, :, t]),
                  [N, D, M * OH * OW])
    y   = transpose(reshape(crop_pd(sum_t pad(spread_sd(z_t), front t * dd)), [N, OD, M, OH, OW]),
                    [0, 2, 1, 3, 4]) (+ b)

A convolution whose windows tile the image without overlap or gaps (stride = kernel, no padding or
dilation, one group: a vision transformer's patch embedding) is one GEMM over the patches, which
the GEMM template runs at tensor-core speed where an implicit-GEMM convolution over 3 channels
cannot:

    x6 = transpose(reshape(x, [N, C, OH, R, OW, S]), [0, 2, 4, 1, 3, 5])   (patches, channels-last)
    y  = transpose(matmul(reshape(x6, [N, OH, OW, C * R * S]), transpose(reshape(w, [M, C * R * S])))
                   (+ b), [0, 3, 1, 2])

Requires: static spatial attributes (every nn op has them). Guarantees: the same values (the 3-D
sum in another order, a float rounding difference); shapes with unknown batch stay symbolic for
1-D ops; 3-D convolutions need static input shapes and are left alone otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tritium.ir.attributes import NameLoc
from tritium.ir.core import Operation, Value
from tritium.ir.dialects import nn
from tritium.ir.dialects.nn.pool import PoolOp
from tritium.ir.rewriter import Rewriter
from tritium.ir.types import TensorType
from tritium.passes.base import Pass, register_pass
from tritium.passes.patterns import apply_patterns_greedily, int64_constant, pattern


def _rank(v: Value | None) -> int | None:
    t = v.type if v is not None else None
    return len(t.shape) if isinstance(t, TensorType) and t.shape is not None else None


def _widened(op: Operation) -> dict[str, Any]:
    """``op``'s attributes for the 2-D form over a height of 1."""
    attrs = dict(op.attributes)
    for key in ("strides", "dilations", "kernel_shape"):
        if key in attrs:
            attrs[key] = [1, *attrs[key]]
    if "output_padding" in attrs:
        attrs["output_padding"] = [0, *attrs["output_padding"]]
    if "pads" in attrs:
        begin, end = attrs["pads"]
        attrs["pads"] = [0, begin, 0, end]
    return attrs


def _as_2d(op: Operation, rw: Rewriter, n_spatial_operands: int) -> bool:
    """Rewrite a 1-D ``op`` whose first ``n_spatial_operands`` operands carry the spatial axis."""
    if _rank(op.operand(0)) != 3 or op.attributes.get("layout") not in (None, "NCHW"):
        return False
    with rw.at(before=op):
        axis = int64_constant(rw, op, [2])
        operands = [
            rw.create(nn.Unsqueeze, v, axis, loc=op.loc).out
            if i < n_spatial_operands and v is not None
            else v
            for i, v in enumerate(op.operands)
        ]
        new = rw.create(type(op), *operands, loc=op.loc, **_widened(op))
        outs = [rw.create(nn.Squeeze, r, axis, loc=op.loc).out for r in new.results]
    rw.replace_op(op, outs)
    return True


def _static_float_3d(op: Operation) -> bool:
    """A 3-D (transposed) convolution of float tensors whose input, weight and output are static."""
    x, w, y = op.operand(0), op.operand(1), op.results[0]
    return _rank(x) == 5 and all(v.type.is_static for v in (x, w, y)) and x.type.dtype.is_float  # type: ignore[attr-defined]


def _depth_loc(op: Operation, t: int) -> Any:
    """The location of depth tap ``t``'s 2-D op: the 3-D op's name with ``.depth<t>``."""
    return NameLoc(f"{op.loc.names[0]}.depth{t}") if op.loc is not None and op.loc.names else op.loc  # type: ignore[attr-defined]


@pattern
def conv_1d(op: nn.Conv, rw: Rewriter) -> bool:
    """conv(x: [N, C, L], w: [M, C/g, K]) -> squeeze(conv(unsqueeze(x, 2), unsqueeze(w, 2)), 2)"""
    return _as_2d(op, rw, 2)


@pattern
def conv_transpose_1d(op: nn.ConvTranspose, rw: Rewriter) -> bool:
    """conv_transpose(x: [N, C, L], w: [C, M/g, K]) -> squeeze(conv_transpose(x[:, :, None], w[:, :, None]), 2)"""
    return _as_2d(op, rw, 2)


@pattern
def pool_1d(op: PoolOp, rw: Rewriter) -> bool:
    """max_pool / average_pool / lp_pool(x: [N, C, L]) -> squeeze(pool(unsqueeze(x, 2)), 2)
    (a max pool's flat indices count the same elements: the height is 1)"""
    return _as_2d(op, rw, 1)


@pattern
def conv_3d(op: nn.Conv, rw: Rewriter) -> bool:
    """conv(x: [N, C, D, H, W], w: [M, C/g, T, R, S], b) -> the sum over taps t of channels-last 2-D
    convolutions of the depth slices (see the module docstring)"""
    x, w, b = op.operand(0), op.operand(1), op.operand(2) if op.num_operands > 2 else None
    if not _static_float_3d(op):
        return False
    xt, wt, yt = x.type, w.type, op.results[0].type
    (n, c, _, h, wd), (m, _, taps, r, s), (_, _, od, oh, ow) = xt.shape, wt.shape, yt.shape  # type: ignore[attr-defined]
    (sd, sh, sw), (dd, dh, dw) = op.attributes["strides"], op.attributes["dilations"]
    pd0, ph0, pw0, pd1, ph1, pw1 = op.attributes["pads"]
    attrs = dict(
        strides=[sh, sw], dilations=[dh, dw], pads=[ph0, pw0, ph1, pw1], group=op.attributes["group"]
    )
    with rw.at(before=op):

        def create(cls: Any, *args: Any, **kw: Any) -> Value:
            return rw.create(cls, *args, loc=op.loc, **kw).results[0]

        # channels-last once: a depth slice of [N, D, H, W, C], batched as N * OD images, is NHWC
        x = create(nn.Transpose, x, perm=[0, 2, 3, 4, 1])
        if pd0 or pd1:  # zeros around the depth axis, so every tap's slice is in range
            x = create(nn.Pad, x, int64_constant(rw, op, [0, pd0, 0, 0, 0, 0, pd1, 0, 0, 0]))
        w = create(nn.Transpose, w, perm=[0, 2, 3, 4, 1])  # [M, T, R, S, C/g]: a constant, folded
        total = None
        for t in range(taps):
            begin, end = (
                int64_constant(rw, op, [t * dd]),
                int64_constant(rw, op, [t * dd + sd * (od - 1) + 1]),
            )
            sl = create(nn.Slice, x, begin, end, int64_constant(rw, op, [1]), int64_constant(rw, op, [sd]))
            imgs = create(nn.Reshape, sl, int64_constant(rw, op, [n * od, h, wd, c]))
            wt2 = create(
                nn.Slice,
                w,
                int64_constant(rw, op, [t]),
                int64_constant(rw, op, [t + 1]),
                int64_constant(rw, op, [1]),
            )
            wt2 = create(nn.Reshape, wt2, int64_constant(rw, op, [m, r, s, -1]))
            tap = _depth_loc(op, t)
            y = rw.create(nn.Conv, imgs, wt2, b if t == 0 else None, layout="NHWC", loc=tap, **attrs).out
            total = y if total is None else rw.create(nn.Add, total, y, loc=tap).out
        y = create(nn.Reshape, total, int64_constant(rw, op, [n, od, oh, ow, m]))
        y = create(nn.Transpose, y, perm=[0, 4, 1, 2, 3])
    rw.replace_op(op, [y])
    return True


@pattern
def conv_transpose_3d(op: nn.ConvTranspose, rw: Rewriter) -> bool:
    """conv_transpose(x: [N, C, D, H, W], w: [C, M/g, T, R, S], b) -> for each depth tap t, the 2-D
    transposed convolution of all N * D input slices with w[:, :, t], placed at the output depths
    d * sd + t * dd (spread sd apart by zero rows, then shifted by zeros in front), summed over the
    taps, cropped by the depth pads, with the bias added last (see the module docstring)"""
    x, w, b = op.operand(0), op.operand(1), op.operand(2) if op.num_operands > 2 else None
    if not _static_float_3d(op):
        return False
    xt, wt, yt = x.type, w.type, op.results[0].type
    (n, c, d, h, wd), (_, mg, taps, r, s), (_, m, od, oh, ow) = xt.shape, wt.shape, yt.shape  # type: ignore[attr-defined]
    (sd, sh, sw), (dd, dh, dw) = op.attributes["strides"], op.attributes["dilations"]
    pd0, ph0, pw0, _, ph1, pw1 = op.attributes["pads"]  # the depth's end pad: od says it
    opd, oph, opw = op.attributes["output_padding"]
    attrs = dict(
        strides=[sh, sw],
        dilations=[dh, dw],
        pads=[ph0, pw0, ph1, pw1],
        output_padding=[oph, opw],
        group=op.attributes["group"],
    )
    full = sd * (d - 1) + opd + (taps - 1) * dd + 1  # the uncropped output depth
    spread = (d - 1) * sd + 1  # the depths one tap reaches, first to last
    k = m * oh * ow
    with rw.at(before=op):

        def create(cls: Any, *args: Any, **kw: Any) -> Value:
            return rw.create(cls, *args, loc=op.loc, **kw).results[0]

        # the depth slices as one batch of N * D images (NCHW)
        imgs = create(nn.Transpose, x, perm=[0, 2, 1, 3, 4])
        imgs = create(nn.Reshape, imgs, int64_constant(rw, op, [n * d, c, h, wd]))
        total = None
        for t in range(taps):
            wt2 = create(
                nn.Slice,
                w,
                int64_constant(rw, op, [t]),
                int64_constant(rw, op, [t + 1]),
                int64_constant(rw, op, [2]),
            )
            wt2 = create(nn.Reshape, wt2, int64_constant(rw, op, [c, mg, r, s]))
            tap = _depth_loc(op, t)
            z = rw.create(nn.ConvTranspose, imgs, wt2, loc=tap, **attrs).out
            if sd > 1:  # sd - 1 zero rows after each input depth, the last ones dropped
                z = create(nn.Reshape, z, int64_constant(rw, op, [n, d, 1, k]))
                z = create(nn.Pad, z, int64_constant(rw, op, [0, 0, 0, 0, 0, 0, sd - 1, 0]))
                z = create(nn.Reshape, z, int64_constant(rw, op, [n, d * sd, k]))
                z = create(
                    nn.Slice,
                    z,
                    int64_constant(rw, op, [0]),
                    int64_constant(rw, op, [spread]),
                    int64_constant(rw, op, [1]),
                )
            else:
                z = create(nn.Reshape, z, int64_constant(rw, op, [n, d, k]))
            z = create(nn.Pad, z, int64_constant(rw, op, [0, t * dd, 0, 0, full - t * dd - spread, 0]))
            total = z if total is None else rw.create(nn.Add, total, z, loc=tap).out
        y = total
        if (pd0, od) != (0, full):  # the depth pads crop
            y = create(
                nn.Slice,
                y,
                int64_constant(rw, op, [pd0]),
                int64_constant(rw, op, [pd0 + od]),
                int64_constant(rw, op, [1]),
            )
        y = create(nn.Reshape, y, int64_constant(rw, op, [n, od, m, oh, ow]))
        y = create(nn.Transpose, y, perm=[0, 2, 1, 3, 4])
        if b is not None:
            y = create(nn.Add, y, create(nn.Reshape, b, int64_constant(rw, op, [m, 1, 1, 1])))
    rw.replace_op(op, [y])
    return True


@pattern
def conv_patches(op: nn.Conv, rw: Rewriter) -> bool:
    """conv(x: [N, C, H, W], w: [M, C, R, S], b) with strides [R, S], no padding or dilation, one group,
    R * S > 1, H and W multiples of R and S -> a GEMM over the patches (see the module docstring)"""
    x, w, b = op.operand(0), op.operand(1), op.operand(2) if op.num_operands > 2 else None
    xt, wt = x.type, w.type
    if _rank(x) != 4 or op.attributes.get("layout") not in (None, "NCHW") or not wt.is_static:  # type: ignore[attr-defined]
        return False
    if not xt.dtype.is_float or any(not isinstance(d, int) for d in xt.shape[1:]):  # type: ignore[attr-defined]
        return False
    (_, c, h, wd), (m, cg, r, s) = xt.shape, wt.shape  # type: ignore[attr-defined]
    a = op.attributes
    if a["group"] != 1 or cg != c or list(a["strides"]) != [r, s] or r * s == 1:
        return False
    if any(a["pads"]) or list(a["dilations"]) != [1, 1] or h % r or wd % s:
        return False
    oh, ow = h // r, wd // s
    with rw.at(before=op):

        def create(cls: Any, *args: Any, **kw: Any) -> Value:
            return rw.create(cls, *args, loc=op.loc, **kw).results[0]

        patches = create(nn.Reshape, x, int64_constant(rw, op, [-1, c, oh, r, ow, s]))
        patches = create(nn.Transpose, patches, perm=[0, 2, 4, 1, 3, 5])
        patches = create(nn.Reshape, patches, int64_constant(rw, op, [-1, oh, ow, c * r * s]))
        wm = create(nn.Transpose, create(nn.Reshape, w, int64_constant(rw, op, [m, c * r * s])), perm=[1, 0])
        y = create(nn.MatMul, patches, wm)
        if b is not None:
            y = create(nn.Add, y, b)
        y = create(nn.Transpose, y, perm=[0, 3, 1, 2])
    rw.replace_op(op, [y])
    return True


@register_pass
@dataclass(frozen=True)
class LowerConvNd(Pass):
    """Run 1-D convolutions, transposed convolutions and pooling as their 2-D forms over a height of
    1, 3-D (transposed) convolutions as sums of 2-D ones over the depth taps, and patch convolutions
    (stride = kernel) as GEMMs over the patches (module docstring)."""

    name = "lower-conv-nd"

    def run(self, module: Any) -> dict[str, int]:
        return dict(
            apply_patterns_greedily(
                module, [conv_1d, conv_transpose_1d, pool_1d, conv_3d, conv_transpose_3d, conv_patches]
            )
        )
