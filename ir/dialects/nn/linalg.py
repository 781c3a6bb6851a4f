"""Matrix products (float and quantized integer) and the determinant.

``nn.matmul`` is the one float matrix product later stages see: ONNX Gemm becomes transposes, an
``nn.matmul`` and elementwise scaling. The integer products keep ONNX's zero points and scales; the
float 8 product (``nn.matmul_float8``) is what lower-quant makes of dequantized float 8 operands.
"""

from __future__ import annotations

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.dialects.nn.common import as_dtype, broadcast_shapes, ttype
from tritium.ir.opdef import Op, Pure, SameOperandsElementType, operand, opt_operand, result
from tritium.ir.types import Dim, TensorType

QUANT_INTS = frozenset({D.i8, D.u8})


def matmul_shape(op: Op, a: TensorType, b: TensorType) -> tuple[Dim, ...] | None:
    """numpy.matmul's result shape: 1-D operands are promoted, the batch dimensions broadcast."""
    if a.shape is None or b.shape is None:
        return None
    if len(a.shape) == 0 or len(b.shape) == 0:
        op.fail("operands must have rank >= 1")
    sa = (1, *a.shape) if len(a.shape) == 1 else a.shape
    sb = (*b.shape, 1) if len(b.shape) == 1 else b.shape
    k1, k2 = sa[-1], sb[-2]
    if isinstance(k1, int) and isinstance(k2, int) and k1 != k2:
        op.fail(f"contraction dimensions differ: a is {a} (K={k1}), b is {b} (K={k2})")
    batch = broadcast_shapes(op, sa[:-2], sb[:-2])
    out = (*batch, sa[-2], sb[-1])  # type: ignore[misc]
    if len(a.shape) == 1:
        out = out[:-2] + out[-1:]
    if len(b.shape) == 1:
        out = out[:-1]
    return out


class MatMul(Op):
    """numpy.matmul: 1-D operands are promoted and the batch dimensions broadcast (ONNX MatMul)."""

    name = "nn.matmul"
    traits = (Pure, SameOperandsElementType)
    a = operand(D.NUMERIC)
    b = operand(D.NUMERIC)
    out = result()

    def infer(self) -> TensorType:
        a, b = ttype(self, self.a, "a"), ttype(self, self.b, "b")
        return TensorType(matmul_shape(self, a, b), a.dtype)

    def reference(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.dtype.kind == "f" and a.dtype.itemsize < 4:
            return as_dtype(
                np.asarray(np.matmul(a.astype(np.float32), b.astype(np.float32))), self.results[0].type
            )
        return as_dtype(np.asarray(np.matmul(a, b)), self.results[0].type)


def _row_zero_point(zp: np.ndarray | None, a: np.ndarray) -> np.ndarray | int:
    """A's zero point: a scalar, or one per row (a 1-D tensor of M values) broadcast along K."""
    if zp is None:
        return 0
    zp = zp.astype(np.int64)
    if zp.ndim == 1 and zp.size > 1 and a.ndim >= 2:
        return zp.reshape(-1, 1)
    return zp


def _check_zero_point(op: Op, zp, x, what: str) -> None:
    if zp is None:
        return
    zt, xt = ttype(op, zp, f"{what}_zero_point"), ttype(op, x, what)
    if zt.dtype != xt.dtype:
        op.fail(f"{what}_zero_point has element type {zt.dtype}, but {what} has {xt.dtype}")
    if zt.rank is not None and zt.rank > (xt.rank if xt.rank is not None else 99):
        op.fail(f"{what}_zero_point {zt} has a higher rank than {what} {xt}")


class MatMulInteger(Op):
    """``(a - a_zero_point) @ (b - b_zero_point)`` accumulated in i32 (ONNX MatMulInteger).

    ``a_zero_point`` is a scalar or one value per row of ``a`` (M values); ``b_zero_point`` a scalar
    or one value per column of ``b`` (N values)."""

    name = "nn.matmul_integer"
    traits = (Pure,)
    a = operand(QUANT_INTS)
    b = operand(QUANT_INTS)
    a_zero_point = opt_operand(QUANT_INTS)
    b_zero_point = opt_operand(QUANT_INTS)
    out = result()

    def infer(self) -> TensorType:
        _check_zero_point(self, self.a_zero_point, self.a, "a")
        _check_zero_point(self, self.b_zero_point, self.b, "b")
        return TensorType(matmul_shape(self, ttype(self, self.a, "a"), ttype(self, self.b, "b")), D.i32)

    def reference(self, a, b, a_zero_point, b_zero_point) -> np.ndarray:
        a64 = a.astype(np.int64) - _row_zero_point(a_zero_point, a)
        b64 = b.astype(np.int64) - (0 if b_zero_point is None else b_zero_point.astype(np.int64))
        return np.asarray(np.matmul(a64, b64)).astype(np.int32)


FLOAT8 = frozenset({D.f8E4M3FN, D.f8E5M2})


class MatMulFloat8(Op):
    """``a @ b`` of float 8 operands (e4m3fn or e5m2, each), accumulated in f32: the float 8 tensor
    core product (Hopper's FP8 wgmma), which lower-quant forms from explicit Q/DQ. Every product of
    two float 8 values is exact in f32; the sum rounds as any f32 sum does."""

    name = "nn.matmul_float8"
    traits = (Pure,)
    a = operand(FLOAT8)
    b = operand(FLOAT8)
    out = result()

    def infer(self) -> TensorType:
        return TensorType(matmul_shape(self, ttype(self, self.a, "a"), ttype(self, self.b, "b")), D.f32)

    def reference(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.asarray(np.matmul(a.astype(np.float32), b.astype(np.float32)))


class QLinearMatMul(Op):
    """Quantized matrix product (ONNX QLinearMatMul):
    ``y = saturate(round((a - a_zp) @ (b - b_zp) * a_scale * b_scale / y_scale) + y_zp)``.

    The product is exact (integer), the rescale is done in f64 and rounds half to even. Scales and
    zero points are scalars, or per row of ``a`` / per column of ``b``."""

    name = "nn.qlinear_matmul"
    traits = (Pure,)
    a = operand(QUANT_INTS)
    a_scale = operand(D.FLOATS)
    a_zero_point = operand(QUANT_INTS)
    b = operand(QUANT_INTS)
    b_scale = operand(D.FLOATS)
    b_zero_point = operand(QUANT_INTS)
    y_scale = operand(D.FLOATS)
    y_zero_point = operand(QUANT_INTS)
    out = result()

    def infer(self) -> TensorType:
        _check_zero_point(self, self.a_zero_point, self.a, "a")
        _check_zero_point(self, self.b_zero_point, self.b, "b")
        y = ttype(self, self.y_zero_point, "y_zero_point")
        return TensorType(matmul_shape(self, ttype(self, self.a, "a"), ttype(self, self.b, "b")), y.dtype)

    def reference(self, a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point):
        acc = np.matmul(
            a.astype(np.int64) - _row_zero_point(a_zero_point, a),
            b.astype(np.int64) - b_zero_point.astype(np.int64),
        )
        sa = a_scale.astype(np.float64)
        if sa.ndim == 1 and sa.size > 1 and a.ndim >= 2:
            sa = sa.reshape(-1, 1)
        scaled = acc * sa * b_scale.astype(np.float64) / y_scale.astype(np.float64)
        info = np.iinfo(y_zero_point.dtype)
        q = np.rint(scaled) + y_zero_point.astype(np.float64)
        return as_dtype(np.asarray(np.clip(q, info.min, info.max)), self.results[0].type)


class Det(Op):
    """Determinant of the square matrices in the last two dims (ONNX Det)."""

    name = "nn.det"
    traits = (Pure,)
    x = operand(D.FLOATS)
    out = result()

    def infer(self) -> TensorType:
        x = ttype(self, self.x, "x")
        if x.shape is None:
            return x
        if len(x.shape) < 2:
            self.fail(f"x must have rank >= 2, found {x}")
        m, n = x.shape[-2:]
        if isinstance(m, int) and isinstance(n, int) and m != n:
            self.fail(f"matrices must be square, found {m}x{n}")
        return TensorType(x.shape[:-2], x.dtype)

    def reference(self, x: np.ndarray) -> np.ndarray:
        return as_dtype(np.asarray(np.linalg.det(x.astype(np.float64))), self.results[0].type)
