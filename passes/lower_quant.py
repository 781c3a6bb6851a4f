"""lower-quant: explicit quantization (Q/DQ) into integer products and elementwise ops.

TensorRT's explicit-quantization rule: a product whose operands both come from DequantizeLinear of
8-bit integers runs on the integers. Here that is

    %a = quant.dequantize_linear %aq, %sa          (i8, one scale)
    %w = quant.dequantize_linear %wq, %sw {axis=1} (i8, one scale or one per output column)
    %y = nn.matmul %a, %w
 ->
    %p = nn.matmul_integer %aq, %wq                (i8 x i8, accumulated in i32: the GEMM template)
    %y = nn.mul (nn.cast %p to f32), sa*sw         (in f32 also in f16 builds: products overflow f16)

(a convolution likewise: ``nn.conv_integer``, the scales per output channel, then the bias; an
activation may also be u8 with one zero point, onnxruntime's default, which becomes the product's
input zero point: ``nn.matmul_integer %aq, %wq, %za``), and
every other integer Q/DQ with constant scales becomes the elementwise ops that define it, so it
fuses into the kernels around it (a quantize into the epilogue of the kernel producing its input):

    dequantize_linear(x, s, zp) -> (cast(x) - zp) * s
    quantize_linear(x, s, zp)   -> cast(round_half_even(clip(x / s, lo - zp, hi - zp)) + zp)

Float 8 (e4m3fn, e5m2) goes the same way: a product of dequantized float 8 operands (one scale for
the activation, one or one per output column for the weight) becomes ``nn.matmul_float8`` (the FP8
tensor cores, f32 sums) times sa*sw, and the other Q/DQ elementwise ops:

    dequantize_linear(x, s) -> cast(x, f32) * s
    quantize_linear(x, s)   -> cast(x / s, f8, saturate)   (rounds to nearest even once, in the cast)

Per-axis scales are reshaped to broadcast along their axis. Blocked Q/DQ, the FNUZ float 8 types and
scales computed at run time for float 8 stay as they are (host reference). Runs before constant
folding, which would otherwise turn DQ(weights) into float weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.core import Operation, Value
from tritium.ir.dialects import nn, quant
from tritium.ir.opdef import constant_value
from tritium.ir.rewriter import Rewriter
from tritium.passes.base import Pass, register_pass
from tritium.passes.patterns import apply_patterns_greedily, pattern

INTEGER = (D.i8, D.u8)
"""The quantized types lowered here (i8 x i8 products run on the integers)."""
FLOAT8 = (D.f8E4M3FN, D.f8E5M2)
"""The float 8 types lowered here (the GPU's; the FNUZ variants stay on the host)."""


def _per_tensor_or_axis(op: quant.QuantOp, x: Value) -> tuple[np.ndarray, np.ndarray | None] | None:
    """The scale and zero point broadcast against ``x`` (per tensor: shape (); per axis: that axis's
    values, unit dims elsewhere), or None (blocked, or not constant)."""
    scale, zp = constant_value(op.operand(1)), constant_value(op.operand(2)) if op.num_operands > 2 else None
    if scale is None or op.block_size or (op.num_operands > 2 and op.operand(2) is not None and zp is None):
        return None
    if scale.size == 1:
        return scale.reshape(()), None if zp is None else zp.reshape(())
    if x.type.shape is None:  # type: ignore[attr-defined]
        return None  # per axis on an unranked tensor
    rank = len(x.type.shape)  # type: ignore[attr-defined]
    axis = op.axis % rank
    shape = [-1 if i == axis else 1 for i in range(rank)]
    return scale.reshape(shape), None if zp is None else zp.reshape(shape)


def _runtime_per_tensor(op: quant.QuantOp) -> bool:
    """A scale (and zero point) of one value computed at run time (DynamicQuantizeLinear's)."""
    vals = [v for v in op.operands[1:] if v is not None]
    return not op.block_size and all(getattr(v.type, "numel", None) == 1 for v in vals)


def _lowerable(op: quant.QuantOp) -> bool:
    """Whether the scale and zero point become elementwise operands: constants per tensor or per
    axis, or one value each computed at run time."""
    return _per_tensor_or_axis(op, op.x) is not None or _runtime_per_tensor(op)


def _scale_and_zero_point(rw: Rewriter, op: quant.QuantOp, x: Value) -> tuple[Value, Value | None]:
    """The scale and zero point as f32 values that broadcast against ``x`` (constants reshaped per
    axis; a zero point of zeros left out); for an ``op`` that ``_lowerable`` accepted."""
    sz = _per_tensor_or_axis(op, x)
    if sz is not None:
        scale, zp = sz
        z = _const(rw, op, zp.astype(np.float32), "zero_point") if zp is not None and zp.any() else None
        return _const(rw, op, scale.astype(np.float32), "scale"), z
    s, z = op.operand(1), op.operand(2) if op.num_operands > 2 else None
    if s.type.dtype != D.f32:  # type: ignore[attr-defined]
        s = _f32(rw, op, nn.Cast, s, to=D.f32)
    if z is not None:
        z = _f32(rw, op, nn.Cast, z, to=D.f32)
    return s, z


def _const(rw: Rewriter, op: Operation, value: np.ndarray, what: str) -> Value:
    name = (op.loc.names[0] if op.loc is not None and op.loc.names else op.name) + f".{what}"  # type: ignore[attr-defined]
    return rw.insert(nn.Constant.of(value, op.module(), name, op.loc)).out


def _f32(rw: Rewriter, op: Operation, cls: Any, *operands: Any, **attrs: Any) -> Value:
    """The result of a new ``cls`` op at ``op``'s location, pinned to f32 (lower-precision keeps it)."""
    new = rw.create(cls, *operands, loc=op.loc, **attrs)
    new.attributes["precision"] = "f32"
    return new.results[0]


def _constant_quantization(op: quant.QuantOp) -> tuple[np.ndarray, np.ndarray] | None:
    """(scale, zero point) of a per-tensor or per-axis Q/DQ with constant ones (zeros when absent)."""
    scale = constant_value(op.scale)  # type: ignore[attr-defined]
    zp = constant_value(op.zero_point) if op.zero_point is not None else np.zeros((), np.int32)  # type: ignore[attr-defined]
    if scale is None or zp is None or op.block_size:
        return None
    return scale, zp


def _quantized_operand(v: Value, types: tuple[Any, ...] = (D.i8,)) -> tuple[Value, np.ndarray] | None:
    """(the quantized tensor, its scale) when ``v`` is a zero-point-free DequantizeLinear of one of
    ``types`` (i8 unless told)."""
    dq = v.defining_op
    if not isinstance(dq, quant.DequantizeLinear) or dq.x.type.dtype not in types:  # type: ignore[attr-defined]
        return None
    sz = _constant_quantization(dq)
    if sz is None or sz[1].any():
        return None
    return dq.x, sz[0]


def _activation_operand(v: Value) -> tuple[Value, np.ndarray, int] | None:
    """(the 8-bit tensor, its one scale, its zero point) when ``v`` is a per-tensor DequantizeLinear of
    i8 without a zero point, or of u8 with one constant zero point (onnxruntime's default
    activations: asymmetric u8). The integer kernels shift u8 by 128 into int8 and correct the sum."""
    i8 = _quantized_operand(v)
    if i8 is not None:
        return (*i8, 0) if i8[1].size == 1 else None
    dq = v.defining_op
    if not isinstance(dq, quant.DequantizeLinear) or dq.x.type.dtype != D.u8:  # type: ignore[attr-defined]
        return None
    sz = _constant_quantization(dq)
    if sz is None or sz[0].size != 1 or sz[1].size != 1:
        return None
    return dq.x, sz[0], int(sz[1].reshape(-1)[0])


def _zero_point(rw: Rewriter, op: Operation, zero: int, x: Value) -> Value | None:
    """The zero point of the activation ``x`` as a u8 constant operand (None for i8 activations,
    which ``_activation_operand`` takes only without one)."""
    if x.type.dtype != D.u8:  # type: ignore[attr-defined]
        assert zero == 0, "an i8 activation with a zero point"
        return None
    return _const(rw, op, np.array(zero, np.uint8), "x_zero_point")


def _scaled(rw: Rewriter, op: Operation, product: Value, scale: np.ndarray, shape: tuple[int, ...]) -> Value:
    """cast(product, f32) * scale (pinned to f32: an int32 product overflows f16), the scale a
    constant of one value or of ``shape``."""
    y = _f32(rw, op, nn.Cast, product, to=D.f32)
    s = _const(rw, op, scale.reshape(()) if scale.size == 1 else scale.reshape(shape), "scale")
    return _f32(rw, op, nn.Mul, y, s)


def _product_scale(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The activation's one scale times the weight's (one, or one per output channel), in f32."""
    return (a.astype(np.float64).reshape(()) * w.astype(np.float64).reshape(-1)).astype(np.float32)


def _matmul_weight(op: nn.MatMul, types: tuple[Any, ...]) -> tuple[Value, np.ndarray, Any] | None:
    """(the quantized weight, its scale, the transpose after its DQ or None) when ``op``'s right
    operand is a zero-point-free DQ of one of ``types`` with one scale or one per column of a 2-D
    weight, which may be transposed after its DQ (ONNX Gemm's transB)."""
    w, t = _quantized_operand(op.operand(1), types), op.operand(1).defining_op
    transposed = w is None and isinstance(t, nn.Transpose) and tuple(t.perm) == (1, 0)
    if transposed:
        w = _quantized_operand(t.x, types)  # type: ignore[union-attr]
    if w is None or w[0].type.shape is None:  # type: ignore[attr-defined]
        return None
    wq, sw = w
    dq = (t.x if transposed else op.operand(1)).defining_op  # type: ignore[union-attr]
    if sw.size != 1 and (len(wq.type.shape) != 2 or dq.axis % 2 != (0 if transposed else 1)):  # type: ignore[attr-defined,union-attr]
        return None  # per-channel scales must be per output column
    return wq, sw, t if transposed else None


def _replace_product(rw: Rewriter, op: Operation, product: Value, scale: np.ndarray) -> None:
    """Replace ``op`` by the f32 ``product`` (from integer or float 8 operands) times ``scale``, cast
    to ``op``'s type."""
    y = _scaled(rw, op, product, scale, scale.shape)
    out = op.results[0].type.dtype  # type: ignore[attr-defined]
    if out != D.f32:
        y = rw.create(nn.Cast, y, to=out, loc=op.loc).results[0]
    rw.replace_op(op, [y])


@pattern
def integer_matmul(op: nn.MatMul, rw: Rewriter) -> bool:
    """matmul(DQ(aq, sa, za), DQ(wq, sw)) -> cast(matmul_integer(aq, wq, za), f32) * (sa * sw)   for
    i8 aq without a zero point or u8 aq with one, i8 wq without, one scale for aq and one for wq or
    one per column of a 2-D wq (which may be transposed after its DQ: ONNX Gemm's transB)"""
    a, w = _activation_operand(op.operand(0)), _matmul_weight(op, (D.i8,))
    if a is None or w is None:
        return False
    (aq, sa, za), (wq, sw, t) = a, w
    with rw.at(before=op):
        if t is not None:
            wq = rw.create(nn.Transpose, wq, perm=(1, 0), loc=t.loc).results[0]
        zero = _zero_point(rw, op, za, aq)
        product = rw.create(nn.MatMulInteger, aq, wq, zero, None, loc=op.loc).results[0]
        _replace_product(rw, op, product, _product_scale(sa, sw))
    return True


@pattern
def float8_matmul(op: nn.MatMul, rw: Rewriter) -> bool:
    """matmul(DQ(aq, sa), DQ(wq, sw)) -> matmul_float8(aq, wq) * (sa * sw)   for float 8 aq and wq
    (both e4m3fn or both e5m2) without zero points, one scale for aq and one for wq or one per column of a 2-D
    wq (which may be transposed after its DQ)"""
    a, w = _quantized_operand(op.operand(0), FLOAT8), _matmul_weight(op, FLOAT8)
    if a is None or w is None or a[1].size != 1 or a[0].type.dtype != w[0].type.dtype:  # type: ignore[attr-defined]
        return False  # (tl.dot takes one float 8 type: e4m3 x e5m2 stays a float product)
    (aq, sa), (wq, sw, t) = a, w
    with rw.at(before=op):
        if t is not None:
            wq = rw.create(nn.Transpose, wq, perm=(1, 0), loc=t.loc).results[0]
        product = _f32(rw, op, nn.MatMulFloat8, aq, wq)  # (its sums overflow f16)
        _replace_product(rw, op, product, _product_scale(sa, sw))
    return True


@pattern
def integer_conv(op: nn.Conv, rw: Rewriter) -> bool:
    """conv(DQ(xq, sx, zx), DQ(wq, sw), b) -> cast(conv_integer(xq, wq, zx), f32) * (sx * sw) + b   for
    i8 xq without a zero point or u8 xq with one, i8 wq without, NCHW, one scale for xq and one for
    wq or one per output channel"""
    x, w = _activation_operand(op.x), _quantized_operand(op.w)
    if x is None or w is None or op.channels_last:
        return False
    xq, sx, zx = x

    def product(xq: Value, wq: Value, attrs: dict[str, Any]) -> Value:
        return rw.create(
            nn.ConvInteger, xq, wq, _zero_point(rw, op, zx, xq), None, loc=op.loc, **attrs
        ).results[0]

    return _quantized_conv(op, rw, (xq, sx), w, product)


def _quantized_conv(op: nn.Conv, rw: Rewriter, x: tuple, w: tuple, product: Any) -> bool:
    """Replace ``op`` by ``product(xq, wq, attrs)`` (an integer or float 8 convolution) cast to f32,
    times the activation's scale and the weight's (one, or one per output channel), plus the bias."""
    (xq, sx), (wq, sw) = x, w
    k = wq.type.shape[0]  # type: ignore[attr-defined]
    if not isinstance(k, int):
        return False
    if sw.size != 1 and op.w.defining_op.axis % len(wq.type.shape) != 0:  # type: ignore[attr-defined,union-attr]
        return False  # per-channel scales must be per output channel
    out = op.results[0].type.dtype  # type: ignore[attr-defined]
    rank = len(wq.type.shape)  # type: ignore[attr-defined]
    per_channel = (k, *([1] * (rank - 2)))
    with rw.at(before=op):
        attrs = {a: op.attributes[a] for a in ("strides", "pads", "dilations", "group")}
        y = _scaled(rw, op, product(xq, wq, attrs), _product_scale(sx, sw), per_channel)
        if op.b is not None:
            shape = _const(rw, op, np.array(per_channel, np.int64), "bias_shape")
            bias = rw.create(nn.Reshape, op.b, shape, loc=op.loc).results[0]
            if bias.type.dtype != D.f32:  # type: ignore[attr-defined]
                bias = rw.create(nn.Cast, bias, to=D.f32, loc=op.loc).results[0]
            y = _f32(rw, op, nn.Add, y, bias)
        if out != D.f32:
            y = rw.create(nn.Cast, y, to=out, loc=op.loc).results[0]
    rw.replace_op(op, [y])
    return True


@pattern
def float8_conv(op: nn.Conv, rw: Rewriter) -> bool:
    """conv(DQ(xq, sx), DQ(wq, sw), b) -> conv_float8(xq, wq) * (sx * sw) + b   for float 8 xq and wq
    of one type, without zero points, NCHW, one scale for xq and one for wq or one per output channel"""
    x, w = _quantized_operand(op.x, FLOAT8), _quantized_operand(op.w, FLOAT8)
    if x is None or w is None or x[1].size != 1 or op.channels_last or x[0].type.dtype != w[0].type.dtype:  # type: ignore[attr-defined]
        return False
    return _quantized_conv(op, rw, x, w, lambda xq, wq, attrs: _f32(rw, op, nn.ConvFloat8, xq, wq, **attrs))


@pattern
def zero_zero_points(op: nn.MatMulInteger, rw: Rewriter) -> bool:
    """matmul_integer(a, b, za, zb) -> matmul_integer(a, b, za', zb')   dropping zero points that are
    constants of zeros (onnxruntime writes them per column), so the GEMM sees none"""
    za, zb = op.a_zero_point, op.b_zero_point
    zero = [v is not None and (c := constant_value(v)) is not None and not c.any() for v in (za, zb)]
    if not any(zero):
        return False
    rw.replace_op_with(
        op, nn.MatMulInteger, op.a, op.b, None if zero[0] else za, None if zero[1] else zb, loc=op.loc
    )
    return True


@pattern
def conv_zero_zero_points(op: nn.ConvInteger, rw: Rewriter) -> bool:
    """conv_integer(x, w, zx, zw) -> conv_integer(x, w, zx', zw')   the same for convolutions
    (onnxruntime's quantize_dynamic writes ConvInteger with a weight zero point of 0)"""
    zx, zw = op.x_zero_point, op.w_zero_point
    zero = [v is not None and (c := constant_value(v)) is not None and not c.any() for v in (zx, zw)]
    if not any(zero):
        return False
    attrs = dict(op.attributes)
    rw.replace_op_with(
        op, nn.ConvInteger, op.x, op.w, None if zero[0] else zx, None if zero[1] else zw, loc=op.loc, **attrs
    )
    return True


@pattern
def dequantize(op: quant.DequantizeLinear, rw: Rewriter) -> bool:
    """dequantize_linear(x, s, zp) -> (cast(x, f32) - zp) * s   (i8 / u8 / i32 x; constant s and zp,
    or one of each computed at run time; float 8 x with constant s and zp)"""
    if op.x.type.dtype not in (*INTEGER, D.i32, *FLOAT8):  # type: ignore[attr-defined]
        return False
    if not _lowerable(op) or (op.x.type.dtype in FLOAT8 and _per_tensor_or_axis(op, op.x) is None):  # type: ignore[attr-defined]
        return False
    out = op.results[0].type.dtype  # type: ignore[attr-defined]
    with rw.at(before=op):
        s, z = _scale_and_zero_point(rw, op, op.x)
        y = _f32(rw, op, nn.Cast, op.x, to=D.f32)
        if z is not None:
            y = _f32(rw, op, nn.Sub, y, z)
        y = _f32(rw, op, nn.Mul, y, s)
        if out != D.f32:
            y = rw.create(nn.Cast, y, to=out, loc=op.loc).results[0]
    rw.replace_op(op, [y])
    return True


@pattern
def quantize(op: quant.QuantizeLinear, rw: Rewriter) -> bool:
    """quantize_linear(x, s, zp) -> cast(round(clip(x / s, lo - zp, hi - zp)) + zp)   (to i8 / u8,
    zp a constant or absent; the division in f32 when the scale is f32; with a zero point that is
    not a constant, cast(clip(round(x / s) + zp, lo, hi)): the same values)
    quantize_linear(x, s, zp) -> cast(x / s + zp, f8, saturate)   (to float 8; constant s and zp)"""
    dt = op.results[0].type.dtype  # type: ignore[attr-defined]
    prec = op.precision or op.scale.type.dtype  # type: ignore[attr-defined]
    if dt not in (*INTEGER, *FLOAT8) or prec != D.f32:
        return False
    if not _lowerable(op) or (dt in FLOAT8 and _per_tensor_or_axis(op, op.x) is None):
        return False
    with rw.at(before=op):
        s, z = _scale_and_zero_point(rw, op, op.x)
        y = op.x
        if y.type.dtype != D.f32:  # type: ignore[attr-defined]
            y = _f32(rw, op, nn.Cast, y, to=D.f32)
        y = _f32(rw, op, nn.Div, y, s)
        if dt in FLOAT8:  # the cast rounds (nearest even) and saturates, once, from f32
            if z is not None:
                y = _f32(rw, op, nn.Add, y, z)
            y = _f32(rw, op, nn.Cast, y, to=dt, saturate=op.saturate)
        else:
            info = np.iinfo(dt.np_dtype)
            zc = constant_value(z) if z is not None else np.zeros((), np.float32)
            if zc is not None:
                # clip(round(x) + z, lo, hi) = round(clip(x, lo - z, hi - z)) + z for integer z, lo,
                # hi (NaN and infinities too): the rounding then sees a bounded value (one addition
                # in a kernel, codegen's nn.round) and the result is a known integer range
                lo = _const(rw, op, (info.min - zc).astype(np.float32), "min")
                hi = _const(rw, op, (info.max - zc).astype(np.float32), "max")
                y = _f32(rw, op, nn.Round, _f32(rw, op, nn.Clip, y, lo, hi))
                if z is not None:
                    y = _f32(rw, op, nn.Add, y, z)
            else:  # a zero point computed at run time
                y = _f32(rw, op, nn.Round, y)
                y = _f32(rw, op, nn.Add, y, z)
                lo = _const(rw, op, np.array(info.min, np.float32), "min")
                hi = _const(rw, op, np.array(info.max, np.float32), "max")
                y = _f32(rw, op, nn.Clip, y, lo, hi)
            y = rw.create(nn.Cast, y, to=dt, loc=op.loc).results[0]
    rw.replace_op(op, [y])
    return True


def _same_quantization(q: quant.QuantizeLinear, dq: quant.DequantizeLinear) -> bool:
    """Whether ``q`` maps ``dq``'s values back to its input exactly: the same integer type and the same
    constant scale and zero point (per tensor, or per the same axis)."""
    a, b = _constant_quantization(q), _constant_quantization(dq)
    if a is None or b is None or q.results[0].type.dtype != dq.x.type.dtype:  # type: ignore[attr-defined]
        return False
    # the argument holds for 8-bit integers through f32 or f16 (|q| <= 255 rounds back), with
    # finite scales of one sign (bf16, wider integers and float 8 can lose q on the way)
    wide = (D.f32, D.f16)
    if dq.x.type.dtype not in INTEGER or dq.results[0].type.dtype not in wide:  # type: ignore[attr-defined]
        return False
    if (q.precision or q.scale.type.dtype) not in wide or dq.scale.type.dtype not in wide:  # type: ignore[attr-defined]
        return False
    if not (np.isfinite(a[0]).all() and (a[0] > 0).all()):
        return False
    (sa, za), (sb, zb) = a, b
    n, rank = sa.size, dq.x.type.rank  # type: ignore[attr-defined]
    if sb.size != n or (n > 1 and (rank is None or q.axis % rank != dq.axis % rank)):
        return False

    def flat(v: np.ndarray, dtype: Any) -> np.ndarray:
        return np.broadcast_to(v.reshape(-1) if v.size > 1 else v.reshape(()), (n,)).astype(dtype)

    return np.array_equal(flat(sa, np.float32), flat(sb, np.float32)) and np.array_equal(
        flat(za, np.int64), flat(zb, np.int64)
    )


@pattern
def requantize_unchanged(op: quant.QuantizeLinear, rw: Rewriter) -> bool:
    """quantize_linear(dequantize_linear(q, s, z), s, z) -> q   (the same constant scale and zero
    point, to q's type: |q| <= 255, so q * s / s rounds back to q, through f16 too)"""
    dq = op.x.defining_op  # type: ignore[attr-defined]
    if not isinstance(dq, quant.DequantizeLinear) or not _same_quantization(op, dq):
        return False
    rw.replace_op(op, [dq.x])  # type: ignore[attr-defined]
    return True


def _dequantized_positive(v: Value, zero_point_free: bool) -> quant.DequantizeLinear | None:
    """``v``'s defining DequantizeLinear of i8/u8 with one constant scale > 0 (and no zero point, if
    asked): an order-preserving map from the integers, which ops that only compare commute with."""
    dq = v.defining_op
    if not isinstance(dq, quant.DequantizeLinear) or dq.x.type.dtype not in INTEGER:  # type: ignore[attr-defined]
        return None
    sz = _constant_quantization(dq)
    if sz is None or sz[0].size != 1 or not (sz[0] > 0).all() or (zero_point_free and sz[1].any()):
        return None
    return dq


def _swap(rw: Rewriter, op: Operation, dq: quant.DequantizeLinear) -> bool:
    """Replace ``op(dq(q), ...)`` by ``dq(op(q, ...))`` (``op``'s first result; others unused)."""
    if any(r.uses for r in op.results[1:]):
        return False
    with rw.at(before=op):
        on_q = rw.create(type(op), dq.x, *op.operands[1:], loc=op.loc, **dict(op.attributes))  # type: ignore[attr-defined]
        new = rw.create(
            quant.DequantizeLinear,
            on_q.results[0],
            dq.scale,  # type: ignore[attr-defined]
            dq.zero_point,  # type: ignore[attr-defined]
            output_dtype=dq.output_dtype,  # type: ignore[attr-defined]
            loc=dq.loc,
        )
    rw.replace_op(op, [new.results[0], *([None] * (len(op.results) - 1))])
    return True


@pattern
def relu_on_integers(op: nn.Relu, rw: Rewriter) -> bool:
    """relu(dequantize_linear(q, s)) -> dequantize_linear(relu(q), s)   (i8 q, no zero point, one
    constant s > 0: the same values; a following quantize with the same s then folds away)"""
    dq = _dequantized_positive(op.x, zero_point_free=True)  # type: ignore[attr-defined]
    return dq is not None and dq.x.type.dtype == D.i8 and _swap(rw, op, dq)  # type: ignore[attr-defined]


@pattern
def max_pool_on_integers(op: nn.MaxPool, rw: Rewriter) -> bool:
    """max_pool(dequantize_linear(q, s, z)) -> dequantize_linear(max_pool(q), s, z)   (one constant
    s > 0: dequantizing keeps the order; the indices unused)"""
    dq = _dequantized_positive(op.x, zero_point_free=False)  # type: ignore[attr-defined]
    if dq is None or op.ceil_mode:  # type: ignore[attr-defined]
        return False
    # a window wholly in the padding is -inf in float and has no integer equivalent
    extents = [(k - 1) * d + 1 for k, d in zip(op.kernel_shape, op.dilations)]  # type: ignore[attr-defined]
    n = len(extents)
    if any(p >= extents[i % n] for i, p in enumerate(op.pads)):  # type: ignore[attr-defined]
        return False
    return _swap(rw, op, dq)


@register_pass
@dataclass(frozen=True)
class LowerQuant(Pass):
    """Lower explicit quantization: 8-bit products (i8 or u8 with a zero point x i8) to
    nn.matmul_integer / nn.conv_integer, float 8 matrix products to nn.matmul_float8, integer and
    float 8 Q/DQ to nn ops.

    Requires: nn-dialect IR, before fold-constants. Guarantees: the function computes the same
    values (integer products exactly; scales applied in float32 as the reference does); what it
    cannot lower (blocked Q/DQ, FNUZ float 8, run-time float 8 scales) is left unchanged.
    """

    name = "lower-quant"

    def run(self, module: Any) -> dict[str, int]:
        folded = _fold_scales(module)
        stats: dict[str, int] = {"scale computations folded": folded}
        for patterns in (
            # integers straight through: relu and max pool on them, no requantize to the same scale
            [requantize_unchanged, relu_on_integers, max_pool_on_integers],
            # the products next, while the DQs they read are still there
            [
                integer_matmul,
                float8_matmul,
                integer_conv,
                float8_conv,
                zero_zero_points,
                conv_zero_zero_points,
            ],
            [dequantize, quantize],
        ):
            for k, v in apply_patterns_greedily(module, patterns).items():
                stats[k] = stats.get(k, 0) + v
        return stats


def _fold_scales(module: Any) -> int:
    """Evaluate what computes a Q/DQ's scale or zero point from constants alone (an exporter's
    ``Cast`` of an f16 initializer, say), so the patterns see constants; the rest of the graph
    waits for fold-constants (which would also turn DQ(weights) into float weights)."""
    from tritium.ir.interpreter import Interpreter
    from tritium.passes.canonicalize import materialize_constant
    from tritium.passes.fold_constants import _foldable

    rw, interp, folded = Rewriter(), Interpreter(module), 0

    def fold(v: Value | None, depth: int = 0) -> None:
        nonlocal folded
        op = v.defining_op if v is not None else None
        if op is None or op.parent is None or constant_value(v) is not None or depth > 8:
            return
        for operand in dict.fromkeys(op.operands):
            fold(operand, depth + 1)
        values = _foldable(op)
        if values is None or sum(r.type.nbytes or 0 for r in op.results) > 1 << 16:  # type: ignore[attr-defined]
            return
        outs = interp.eval_op(op, values, {})
        rw.replace_op(op, [materialize_constant(np.asarray(x), op, rw) for x in outs])
        folded += 1

    for op in list(module.walk()):
        if isinstance(op, quant.QuantOp) and op.parent is not None:
            for v in op.operands[1:]:
                fold(v)
    return folded
