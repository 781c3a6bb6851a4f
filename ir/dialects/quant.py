"""The quant dialect: linear quantization and dequantization (ONNX QuantizeLinear, DequantizeLinear).

    %q = quant.quantize_linear %x, %scale, %zero_point {axis = 1, block_size = 0, output_dtype = i8}
    %y = quant.dequantize_linear %q, %scale, %zero_point {axis = 1, block_size = 0, output_dtype = f32}

The granularity follows the scale's shape: a scalar (or one value) is per tensor; a 1-D scale of
x.shape[axis] values is per axis; a scale of x's rank whose ``axis`` dim is ceil(x.shape[axis] /
block_size) is blocked (each scale covers ``block_size`` consecutive elements along ``axis``). The zero
point has the scale's shape.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import BOOL, DTYPE, INT
from tritium.ir.dialects.nn.common import norm_axis, ttype
from tritium.ir.dtypes import DType
from tritium.ir.opdef import Op, Pure, attr, operand, opt_operand, result
from tritium.ir.types import TensorType

INT_QUANT = frozenset({D.i8, D.u8, D.i16, D.u16, D.i4, D.u4})
FLOAT_QUANT = frozenset({D.f8E4M3FN, D.f8E4M3FNUZ, D.f8E5M2, D.f8E5M2FNUZ})
QUANTIZED = INT_QUANT | FLOAT_QUANT
SCALES = frozenset({D.f32, D.f16, D.bf16})


def _bounds(dt: DType) -> tuple[float, float]:
    """The representable range of a quantized type."""
    if dt == D.i4:
        return -8.0, 7.0
    if dt == D.u4:
        return 0.0, 15.0
    if dt in INT_QUANT:
        info = np.iinfo(dt.np_dtype)
        return float(info.min), float(info.max)
    top = float(ml_dtypes.finfo(dt.np_dtype).max)
    return -top, top


class QuantOp(Op):
    """Shared granularity checks and scale expansion."""

    traits = (Pure,)
    axis = attr(INT, default=1)
    block_size = attr(INT, default=0)

    def check_granularity(self, x: TensorType, scale: TensorType, zero_point) -> None:
        if self.block_size < 0:
            self.fail(f"block_size must be >= 0, found {self.block_size}")
        if zero_point is not None:
            z = ttype(self, zero_point, "zero_point")
            one = z.numel == 1 and scale.numel == 1  # per tensor: a scalar and a [1] go together
            if (
                z.shape is not None
                and scale.shape is not None
                and len(z.shape) != len(scale.shape)
                and not one
            ):
                self.fail(f"zero_point {z} must have the shape of the scale {scale}")
        if x.shape is None or scale.shape is None:
            return
        n = len(scale.shape)
        if n == 0 or (n == 1 and scale.shape[0] == 1 and self.block_size == 0):
            return  # per tensor
        axis = norm_axis(self, self.axis, len(x.shape))
        if self.block_size == 0:
            if n != 1:
                self.fail(f"a per-axis scale must be 1-D, found {scale} (set block_size for blocked scales)")
            d, s = x.shape[axis], scale.shape[0]
            if isinstance(d, int) and isinstance(s, int) and d != s:
                self.fail(f"per-axis scale has {s} values for dim {axis} of size {d}")
            return
        if n != len(x.shape):
            self.fail(f"a blocked scale must have x's rank {len(x.shape)}, found {scale}")
        for i, (d, s) in enumerate(zip(x.shape, scale.shape)):
            if not (isinstance(d, int) and isinstance(s, int)):
                continue
            want = -(-d // self.block_size) if i == axis else d
            if s != want:
                self.fail(
                    f"blocked scale {scale} does not fit x {x} with block_size {self.block_size} on axis {axis}"
                )

    def expand(self, p: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The scale or zero point broadcast against x."""
        if p.ndim == 0 or (p.ndim == 1 and p.size == 1 and self.block_size == 0):
            return p.reshape(())
        axis = self.axis % x.ndim
        if self.block_size == 0:
            return p.reshape([-1 if i == axis else 1 for i in range(x.ndim)])
        return np.take(np.repeat(p, self.block_size, axis=axis), np.arange(x.shape[axis]), axis=axis)


class QuantizeLinear(QuantOp):
    """``saturate(round_half_even(x / scale) + zero_point)`` in ``output_dtype``.

    The division runs in ``precision`` (the scale's type when absent). ``saturate`` applies to the
    float 8 outputs: out-of-range values clamp (else they become inf / NaN); integers always clamp."""

    name = "quant.quantize_linear"
    x = operand(frozenset({D.f32, D.f16, D.bf16, D.i32}))
    scale = operand(SCALES)
    zero_point = opt_operand(QUANTIZED)
    out = result()
    output_dtype = attr(DTYPE, default=None, doc="absent: the zero point's type, else ui8")
    saturate = attr(BOOL, default=True)
    precision = attr(DTYPE, default=None, doc="absent: the scale's type")

    def result_dtype(self) -> DType:
        if self.output_dtype is not None:
            return self.output_dtype
        if self.zero_point is not None:
            return ttype(self, self.zero_point, "zero_point").dtype
        return D.u8

    def infer(self) -> TensorType:
        x, s = ttype(self, self.x, "x"), ttype(self, self.scale, "scale")
        dt = self.result_dtype()
        if dt not in QUANTIZED:
            self.fail(f"output_dtype {dt} is not a quantized type")
        if self.zero_point is not None and ttype(self, self.zero_point, "zero_point").dtype != dt:
            self.fail(f"zero_point has element type {self.zero_point.type.dtype}, but output_dtype is {dt}")
        if self.precision is not None and not self.precision.is_float:
            self.fail(f"precision must be a float type, found {self.precision}")
        self.check_granularity(x, s, self.zero_point)
        return TensorType(x.shape, dt)

    def reference(self, x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None) -> np.ndarray:
        dt = self.results[0].type.dtype  # type: ignore[attr-defined]
        prec = (self.precision or DType.from_numpy(scale.dtype)).np_dtype
        with np.errstate(all="ignore"):
            q = (x.astype(prec) / self.expand(scale, x).astype(prec)).astype(np.float64)
        zp = 0.0 if zero_point is None else self.expand(zero_point, x).astype(np.float64)
        lo, hi = _bounds(dt)
        if dt in INT_QUANT:
            return np.asarray(np.clip(np.rint(q) + zp, lo, hi)).astype(dt.np_dtype)
        y = q + zp
        if self.saturate:
            y = np.clip(y, lo, hi)
        return np.asarray(y).astype(dt.np_dtype)


class DequantizeLinear(QuantOp):
    """``(x - zero_point) * scale`` in ``output_dtype`` (the scale's type when absent)."""

    name = "quant.dequantize_linear"
    x = operand(QUANTIZED | {D.i32})
    scale = operand(SCALES)
    zero_point = opt_operand(QUANTIZED | {D.i32})
    out = result()
    output_dtype = attr(DTYPE, default=None, doc="absent: the scale's type")

    def infer(self) -> TensorType:
        x, s = ttype(self, self.x, "x"), ttype(self, self.scale, "scale")
        dt = self.output_dtype or s.dtype
        if dt not in SCALES:
            self.fail(f"output_dtype must be f32, f16 or bf16, found {dt}")
        if self.zero_point is not None and ttype(self, self.zero_point, "zero_point").dtype != x.dtype:
            self.fail(f"zero_point has element type {self.zero_point.type.dtype}, but x has {x.dtype}")
        self.check_granularity(x, s, self.zero_point)
        return TensorType(x.shape, dt)

    def reference(self, x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None) -> np.ndarray:
        centered = x.astype(np.float64)
        if zero_point is not None:
            centered = centered - self.expand(zero_point, x).astype(np.float64)
        y = centered * self.expand(scale, x).astype(np.float64)
        return np.asarray(y).astype(self.results[0].type.dtype.np_dtype)  # type: ignore[attr-defined]
