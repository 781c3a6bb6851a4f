"""Activations: Elu, Celu, Selu, LeakyRelu, ThresholdedRelu, HardSigmoid, HardSwish, Softplus,
Softsign, Gelu, Mish, Swish, Shrink, PRelu, Clip. Relu and Sigmoid are in ``elementwise.py``.

ONNX float attributes are float32: their defaults here are the float32 values, written in full.
"""

from __future__ import annotations

import numpy as np

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.registry import converter
from tritium.ir.core import Value
from tritium.ir.dialects import nn

SELU_ALPHA = 1.67326319217681884765625
SELU_GAMMA = 1.05070102214813232421875


def _legacy(ctx: NodeContext, *attrs: str) -> None:
    """Allow ``consumed_inputs`` (an opset-1 memory hint with no effect on values)."""
    ctx.check_attrs(*attrs, "consumed_inputs")


@converter("Elu")
def elu(ctx: NodeContext) -> Value:
    _legacy(ctx, "alpha")
    return ctx.value(nn.Elu, ctx.input(0), alpha=ctx.attr("alpha", 1.0))


@converter("Celu", since=12)
def celu(ctx: NodeContext) -> Value:
    ctx.check_attrs("alpha")
    alpha = ctx.attr("alpha", 1.0)
    if alpha == 0:
        ctx.fail("alpha must not be 0")
    return ctx.value(nn.Celu, ctx.input(0), alpha=alpha)


@converter("Selu")
def selu(ctx: NodeContext) -> Value:
    _legacy(ctx, "alpha", "gamma")
    return ctx.value(
        nn.Selu, ctx.input(0), alpha=ctx.attr("alpha", SELU_ALPHA), gamma=ctx.attr("gamma", SELU_GAMMA)
    )


@converter("LeakyRelu")
def leaky_relu(ctx: NodeContext) -> Value:
    _legacy(ctx, "alpha")
    return ctx.value(nn.LeakyRelu, ctx.input(0), alpha=ctx.attr("alpha", 0.01))


@converter("ThresholdedRelu", since=10)
def thresholded_relu(ctx: NodeContext) -> Value:
    ctx.check_attrs("alpha")
    return ctx.value(nn.ThresholdedRelu, ctx.input(0), alpha=ctx.attr("alpha", 1.0))


@converter("HardSigmoid")
def hard_sigmoid(ctx: NodeContext) -> Value:
    _legacy(ctx, "alpha", "beta")
    return ctx.value(nn.HardSigmoid, ctx.input(0), alpha=ctx.attr("alpha", 0.2), beta=ctx.attr("beta", 0.5))


@converter("HardSwish", since=14)
def hard_swish(ctx: NodeContext) -> Value:
    ctx.check_attrs()
    return ctx.value(nn.HardSwish, ctx.input(0))


@converter("Softplus")
def softplus(ctx: NodeContext) -> Value:
    ctx.check_attrs()
    return ctx.value(nn.Softplus, ctx.input(0))


@converter("Softsign")
def softsign(ctx: NodeContext) -> Value:
    ctx.check_attrs()
    return ctx.value(nn.Softsign, ctx.input(0))


@converter("Gelu", since=20)
def gelu(ctx: NodeContext) -> Value:
    ctx.check_attrs("approximate")
    approximate = ctx.attr("approximate", "none")
    if approximate not in ("none", "tanh"):
        ctx.fail(f"approximate must be 'none' or 'tanh', found {approximate!r}")
    return ctx.value(nn.Gelu, ctx.input(0), approximate=approximate)


@converter("Mish", since=18)
def mish(ctx: NodeContext) -> Value:
    ctx.check_attrs()
    return ctx.value(nn.Mish, ctx.input(0))


@converter("Swish", since=24)
def swish(ctx: NodeContext) -> Value:
    ctx.check_attrs("alpha")
    return ctx.value(nn.Swish, ctx.input(0), alpha=ctx.attr("alpha", 1.0))


@converter("Shrink", since=9)
def shrink(ctx: NodeContext) -> Value:
    ctx.check_attrs("lambd", "bias")
    return ctx.value(nn.Shrink, ctx.input(0), lambd=ctx.attr("lambd", 0.5), bias=ctx.attr("bias", 0.0))


@converter("PRelu")
def prelu(ctx: NodeContext) -> Value:
    _legacy(ctx)
    return ctx.value(nn.PRelu, ctx.input(0), ctx.input(1))


@converter("Clip", since=11)
def clip(ctx: NodeContext) -> Value:
    ctx.check_attrs()
    return ctx.value(nn.Clip, ctx.input(0), ctx.opt_input(1), ctx.opt_input(2))


@converter("Clip", since=1)
def clip_v1(ctx: NodeContext) -> Value:
    """Before opset 11 the bounds are float attributes (absent: unbounded)."""
    _legacy(ctx, "min", "max")
    dt = ctx.type(0).dtype.np_dtype
    lo, hi = ctx.attr("min", None), ctx.attr("max", None)
    bounds = [None if v is None else ctx.constant(np.asarray(v, dt)) for v in (lo, hi)]
    return ctx.value(nn.Clip, ctx.input(0), *bounds)
