"""Matrix products: MatMul, Gemm (as transposes, nn.matmul and scaling), the quantized integer
products, and Det."""

from __future__ import annotations

import numpy as np

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.registry import converter
from tritium.ir.core import Value
from tritium.ir.dialects import nn


@converter("MatMul")
def matmul(ctx: NodeContext) -> Value:
    return ctx.value(nn.MatMul, ctx.input(0), ctx.input(1))


def scalar_like(ctx: NodeContext, value: float, like: Value, what: str) -> Value:
    """A scalar constant of ``like``'s element type (an integral value for integer types)."""
    dt = like.type.dtype  # type: ignore[attr-defined]
    if not dt.is_float and value != int(value):
        ctx.fail(f"{what} {value} is not an integer, but the inputs are {dt}")
    return ctx.constant(np.asarray(value, dt.np_dtype))


@converter("Gemm")
def gemm(ctx: NodeContext) -> Value:
    """``alpha * op(A) @ op(B) + beta * C`` where op transposes when transA / transB is set."""
    ctx.check_attrs("alpha", "beta", "transA", "transB", "broadcast")
    a, b = ctx.input(0), ctx.input(1)
    for i in (0, 1):
        if ctx.rank(i) != 2:
            ctx.fail(f"input #{i} must be 2-D, found {ctx.type(i)}")
    if ctx.attr("transA", 0):
        a = ctx.value(nn.Transpose, a, perm=(1, 0))
    if ctx.attr("transB", 0):
        b = ctx.value(nn.Transpose, b, perm=(1, 0))
    y = ctx.value(nn.MatMul, a, b)
    alpha = float(ctx.attr("alpha", 1.0))
    if alpha != 1.0:
        y = ctx.value(nn.Mul, y, scalar_like(ctx, alpha, y, "alpha"))
    c = ctx.opt_input(2)
    beta = float(ctx.attr("beta", 1.0))
    if c is not None and beta != 0.0:
        if beta != 1.0:
            c = ctx.value(nn.Mul, c, scalar_like(ctx, beta, c, "beta"))
        y = ctx.value(nn.Add, y, c)
        if y.type.shape is not None and ctx.type(2).rank is not None and y.type.rank != 2:  # type: ignore[attr-defined]
            ctx.fail(f"C {ctx.type(2)} does not broadcast to the {ctx.type(0)} x {ctx.type(1)} product")
    return y


@converter("MatMulInteger")
def matmul_integer(ctx: NodeContext) -> Value:
    return ctx.value(nn.MatMulInteger, ctx.input(0), ctx.input(1), ctx.opt_input(2), ctx.opt_input(3))


@converter("QLinearMatMul")
def qlinear_matmul(ctx: NodeContext) -> Value:
    return ctx.value(nn.QLinearMatMul, *(ctx.input(i) for i in range(8)))


@converter("Det")
def det(ctx: NodeContext) -> Value:
    return ctx.value(nn.Det, ctx.input(0))
