"""Random ops: RandomNormal, RandomUniform, RandomNormalLike, RandomUniformLike, Bernoulli,
Multinomial; and ImageDecoder, which needs a codec library this build does not have."""

from __future__ import annotations

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.proto import onnx_dtype
from tritium.frontends.onnx.registry import converter
from tritium.ir.core import Value
from tritium.ir.dialects import nn


def _dtype(ctx: NodeContext, default: int | None = None) -> object:
    """The 'dtype' attribute as an element type; absent: ``default`` (an ONNX type code), or the
    element type of input 0."""
    code = ctx.attr("dtype", default)
    if code is None:
        return ctx.type(0).dtype
    return onnx_dtype(code, "attribute 'dtype'")


@converter("RandomNormal")
def random_normal(ctx: NodeContext) -> Value:
    ctx.check_attrs("shape", "dtype", "mean", "scale", "seed")
    return ctx.value(
        nn.RandomNormal,
        shape=tuple(ctx.attr("shape")),
        dtype=_dtype(ctx, 1),
        mean=ctx.attr("mean", 0.0),
        scale=ctx.attr("scale", 1.0),
        seed=ctx.attr("seed", None),
    )


@converter("RandomUniform")
def random_uniform(ctx: NodeContext) -> Value:
    ctx.check_attrs("shape", "dtype", "low", "high", "seed")
    return ctx.value(
        nn.RandomUniform,
        shape=tuple(ctx.attr("shape")),
        dtype=_dtype(ctx, 1),
        low=ctx.attr("low", 0.0),
        high=ctx.attr("high", 1.0),
        seed=ctx.attr("seed", None),
    )


@converter("RandomNormalLike")
def random_normal_like(ctx: NodeContext) -> Value:
    ctx.check_attrs("dtype", "mean", "scale", "seed")
    return ctx.value(
        nn.RandomNormalLike,
        ctx.input(0),
        dtype=_dtype(ctx),
        mean=ctx.attr("mean", 0.0),
        scale=ctx.attr("scale", 1.0),
        seed=ctx.attr("seed", None),
    )


@converter("RandomUniformLike")
def random_uniform_like(ctx: NodeContext) -> Value:
    ctx.check_attrs("dtype", "low", "high", "seed")
    return ctx.value(
        nn.RandomUniformLike,
        ctx.input(0),
        dtype=_dtype(ctx),
        low=ctx.attr("low", 0.0),
        high=ctx.attr("high", 1.0),
        seed=ctx.attr("seed", None),
    )


@converter("Bernoulli", since=15)
def bernoulli(ctx: NodeContext) -> Value:
    ctx.check_attrs("dtype", "seed")
    return ctx.value(nn.Bernoulli, ctx.input(0), dtype=_dtype(ctx), seed=ctx.attr("seed", None))


@converter("Multinomial", since=7)
def multinomial(ctx: NodeContext) -> Value:
    ctx.check_attrs("dtype", "sample_size", "seed")
    return ctx.value(
        nn.Multinomial,
        ctx.input(0),
        dtype=_dtype(ctx, 6),
        sample_size=ctx.attr("sample_size", 1),
        seed=ctx.attr("seed", None),
    )


@converter("ImageDecoder", since=20)
def image_decoder(ctx: NodeContext) -> Value:
    ctx.fail("ImageDecoder is not supported: decoding images needs an image codec library (Pillow)")
