"""Quantization: QuantizeLinear, DequantizeLinear (quant dialect) and DynamicQuantizeLinear (as the
ops that compute its scale and zero point, then a quantize)."""

from __future__ import annotations

import numpy as np

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.proto import onnx_dtype
from tritium.frontends.onnx.registry import converter
from tritium.ir import dtypes as D
from tritium.ir.core import Value
from tritium.ir.dialects import nn, quant


def _dtype_attr(ctx: NodeContext, name: str) -> D.DType | None:
    code = ctx.attr(name, 0)
    if not code:
        return None
    try:
        return onnx_dtype(code, ctx.name)
    except Exception as e:  # an element type Tritium does not have
        ctx.fail(f"{name}: {e}")


@converter("QuantizeLinear")
def quantize_linear(ctx: NodeContext) -> Value:
    ctx.check_attrs("axis", "block_size", "output_dtype", "saturate", "precision")
    zp = ctx.opt_input(2)
    out = _dtype_attr(ctx, "output_dtype")
    if out is None:
        out = zp.type.dtype if zp is not None else D.u8  # type: ignore[attr-defined]
    return ctx.value(
        quant.QuantizeLinear,
        ctx.input(0),
        ctx.input(1),
        zp,
        axis=ctx.attr("axis", 1),
        block_size=ctx.attr("block_size", 0),
        output_dtype=out,
        saturate=bool(ctx.attr("saturate", 1)),
        precision=_dtype_attr(ctx, "precision"),
    )


@converter("DequantizeLinear")
def dequantize_linear(ctx: NodeContext) -> Value:
    ctx.check_attrs("axis", "block_size", "output_dtype")
    out = _dtype_attr(ctx, "output_dtype") or ctx.type(1).dtype
    return ctx.value(
        quant.DequantizeLinear,
        ctx.input(0),
        ctx.input(1),
        ctx.opt_input(2),
        axis=ctx.attr("axis", 1),
        block_size=ctx.attr("block_size", 0),
        output_dtype=out,
    )


@converter("DynamicQuantizeLinear")
def dynamic_quantize_linear(ctx: NodeContext) -> list[Value]:
    """uint8 quantization over the range [min(x, 0), max(x, 0)]:
    scale = (max - min) / 255, zero_point = saturate(round(-min / scale)), y = quantize(x). An all-zero
    x gets scale 1 (as onnxruntime; the formula would divide 0 by 0)."""
    x = ctx.input(0)
    if ctx.type(0).dtype != D.f32:
        ctx.fail(f"x must be f32, found {ctx.type(0)}")
    zero = ctx.constant(np.float32(0))
    hi = ctx.value(nn.Max, ctx.value(nn.ReduceMax, x, None, keepdims=False), zero)
    lo = ctx.value(nn.Min, ctx.value(nn.ReduceMin, x, None, keepdims=False), zero)
    scale = ctx.value(nn.Div, ctx.value(nn.Sub, hi, lo), ctx.constant(np.float32(255)))
    scale = ctx.value(nn.Where, ctx.value(nn.Equal, hi, lo), ctx.constant(np.float32(1)), scale)
    zp = ctx.value(quant.QuantizeLinear, ctx.value(nn.Neg, lo), scale, output_dtype=D.u8)
    y = ctx.value(quant.QuantizeLinear, x, scale, zp, output_dtype=D.u8)
    return [y, scale, zp]
