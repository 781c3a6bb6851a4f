"""Quantized convolutions: integer convolution with zero points (ConvInteger), the float 8 convolution
(ConvFloat8, f32 sums) and the fully quantized convolution with scales and zero points (QLinearConv).
Integer accumulation is exact in int64."""

from __future__ import annotations

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import INT, INTS, one_of
from tritium.ir.core import Value
from tritium.ir.dialects.nn.common import ttype
from tritium.ir.dialects.nn.conv import check_window_attrs, conv_nd, conv_out_dim
from tritium.ir.opdef import Op, Pure, attr, operand, opt_operand, result
from tritium.ir.types import TensorType

Q8 = [D.i8, D.u8]


class QuantConvBase(Op):
    """Shared geometry of the quantized convolutions (weights ``(M, C / group, *kernel)``)."""

    traits = (Pure,)
    strides = attr(INTS)
    pads = attr(INTS)
    dilations = attr(INTS)
    group = attr(INT, default=1)

    def nchw(self, t: TensorType) -> TensorType:
        """A channels-last type as NCHW (KCRS for weights); the checks are written for that."""
        if self.attributes.get("layout") != "NHWC" or t.shape is None:
            return t
        if len(t.shape) != 4:
            self.fail(f"layout NHWC is for 2-D convolutions, found {t}")
        return TensorType((t.shape[0], t.shape[3], t.shape[1], t.shape[2]), t.dtype)

    def check_geometry(self, xv: Value, wv: Value) -> None:
        x, w = self.nchw(ttype(self, xv, "x")), self.nchw(ttype(self, wv, "w"))
        if w.shape is None or len(w.shape) < 3:
            self.fail(f"weight must have a known rank >= 3, found {w}")
        nsp = len(w.shape) - 2
        if x.shape is not None and len(x.shape) != nsp + 2:
            self.fail(f"input {x} and weight {w} differ in rank")
        check_window_attrs(self, nsp, strides=self.strides, dilations=self.dilations, pads=self.pads)
        if self.group < 1:
            self.fail(f"group must be >= 1, found {self.group}")
        cin = x.shape[1] if x.shape else None
        if isinstance(cin, int) and isinstance(w.shape[1], int) and cin != w.shape[1] * self.group:
            self.fail(f"input has {cin} channels but weight expects {w.shape[1]} x group {self.group}")

    def zero_point(self, what: str, v: Value | None, per_channel: bool) -> None:
        if v is None:
            return
        t = ttype(self, v, what)
        if t.shape is not None and (
            len(t.shape) > 1 or (not per_channel and len(t.shape) == 1 and t.shape[0] not in (1, None))
        ):
            self.fail(
                f"{what} must be a scalar{' or a per-channel vector' if per_channel else ''}, found {t}"
            )

    def out_shape(self, xv: Value, wv: Value) -> tuple | None:
        x, w = self.nchw(ttype(self, xv, "x")), self.nchw(ttype(self, wv, "w"))
        if x.shape is None or w.shape is None:
            return None
        nsp = len(w.shape) - 2
        p, s, d = self.pads, self.strides, self.dilations
        sp = [conv_out_dim(x.shape[2 + i], w.shape[2 + i], s[i], p[i], p[nsp + i], d[i]) for i in range(nsp)]
        if self.attributes.get("layout") == "NHWC":
            return (x.shape[0], *sp, w.shape[0])
        return (x.shape[0], w.shape[0], *sp)

    def int_conv(self, x: np.ndarray, xzp, w: np.ndarray, wzp) -> np.ndarray:  # type: ignore[no-untyped-def]
        """Exact int64 convolution of the zero-point-shifted operands."""
        xs = x.astype(np.int64) - (0 if xzp is None else np.asarray(xzp, np.int64).reshape(()))
        wz = 0 if wzp is None else np.asarray(wzp, np.int64).reshape(-1)
        ws = w.astype(np.int64) - (wz.reshape(-1, *([1] * (w.ndim - 1))) if np.ndim(wz) else wz)
        return conv_nd(xs, ws, None, self.strides, self.pads, self.dilations, self.group)


class ConvInteger(QuantConvBase):
    """``conv(x - x_zero_point, w - w_zero_point)`` in int32; ``w_zero_point`` may be per output channel.
    With ``layout = "NHWC"`` (2-D, set by convert-layout) x, w and the result are channels-last."""

    name = "nn.conv_integer"
    x = operand(Q8)
    w = operand(Q8)
    x_zero_point = opt_operand(Q8)
    w_zero_point = opt_operand(Q8)
    out = result()
    layout = attr(one_of("NCHW", "NHWC"), default=None, doc="NHWC: channels-last (absent: NCHW)")

    def verify_op(self) -> None:
        self.check_geometry(self.x, self.w)
        self.zero_point("x_zero_point", self.x_zero_point, False)
        self.zero_point("w_zero_point", self.w_zero_point, True)

    def infer(self) -> TensorType:
        return TensorType(self.out_shape(self.x, self.w), D.i32)

    def reference(self, x, w, x_zero_point, w_zero_point):  # type: ignore[no-untyped-def]
        if self.layout == "NHWC":
            x, w = x.transpose(0, 3, 1, 2), w.transpose(0, 3, 1, 2)
            out = self.int_conv(x, x_zero_point, w, w_zero_point).transpose(0, 2, 3, 1)
            return np.ascontiguousarray(out).astype(np.int32)
        return self.int_conv(x, x_zero_point, w, w_zero_point).astype(np.int32)


class ConvFloat8(QuantConvBase):
    """``conv(x, w)`` of float 8 operands (e4m3fn or e5m2, each) summed in f32: the FP8 tensor core
    convolution that lower-quant forms from dequantized float 8 operands. With ``layout = "NHWC"``
    (2-D, set by convert-layout) x, w and the result are channels-last."""

    name = "nn.conv_float8"
    x = operand([D.f8E4M3FN, D.f8E5M2])
    w = operand([D.f8E4M3FN, D.f8E5M2])
    out = result()
    layout = attr(one_of("NCHW", "NHWC"), default=None, doc="NHWC: channels-last (absent: NCHW)")

    def verify_op(self) -> None:
        self.check_geometry(self.x, self.w)

    def infer(self) -> TensorType:
        return TensorType(self.out_shape(self.x, self.w), D.f32)

    def reference(self, x, w):  # type: ignore[no-untyped-def]
        x, w = x.astype(np.float64), w.astype(np.float64)
        if self.layout == "NHWC":
            x, w = x.transpose(0, 3, 1, 2), w.transpose(0, 3, 1, 2)
        out = conv_nd(x, w, None, self.strides, self.pads, self.dilations, self.group)
        if self.layout == "NHWC":
            out = out.transpose(0, 2, 3, 1)
        return np.ascontiguousarray(out).astype(np.float32)


class QLinearConv(QuantConvBase):
    """``y = saturate(round_half_even(conv(x - x_zp, w - w_zp) + b) * x_scale * w_scale / y_scale) + y_zp)``
    with ``w_scale``/``w_zero_point`` per tensor or per output channel; ``b`` is int32."""

    name = "nn.qlinear_conv"
    x = operand(Q8)
    x_scale = operand([D.f32])
    x_zero_point = operand(Q8)
    w = operand(Q8)
    w_scale = operand([D.f32])
    w_zero_point = operand(Q8)
    y_scale = operand([D.f32])
    y_zero_point = operand(Q8)
    b = opt_operand([D.i32])
    out = result()

    def verify_op(self) -> None:
        self.check_geometry(self.x, self.w)
        for what, v, per_channel in (
            ("x_scale", self.x_scale, False),
            ("x_zero_point", self.x_zero_point, False),
            ("w_scale", self.w_scale, True),
            ("w_zero_point", self.w_zero_point, True),
            ("y_scale", self.y_scale, False),
            ("y_zero_point", self.y_zero_point, False),
        ):
            self.zero_point(what, v, per_channel)

    def infer(self) -> TensorType:
        return TensorType(
            self.out_shape(self.x, self.w), ttype(self, self.y_zero_point, "y_zero_point").dtype
        )

    def reference(self, x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, b):  # type: ignore[no-untyped-def]
        acc = self.int_conv(x, x_zero_point, w, w_zero_point)
        nsp = w.ndim - 2
        if b is not None:
            acc = acc + b.astype(np.int64).reshape(1, -1, *([1] * nsp))
        ws = np.asarray(w_scale, np.float64).reshape(-1)
        scale = float(np.asarray(x_scale).reshape(())) * (
            ws.reshape(1, -1, *([1] * nsp)) if ws.size > 1 else ws[0]
        )
        y = np.rint(acc * scale / float(np.asarray(y_scale).reshape(())))
        y = y + int(np.asarray(y_zero_point).reshape(()))
        dt = self.results[0].type.dtype.np_dtype  # type: ignore[attr-defined]
        info = np.iinfo(dt)
        return np.clip(y, info.min, info.max).astype(dt)
