"""Optimizer steps of ai.onnx.preview.training: Adagrad, Adam, Momentum."""

from __future__ import annotations

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.registry import converter
from tritium.ir.core import Value
from tritium.ir.dialects import nn

TRAINING = "ai.onnx.preview.training"


def _operands(ctx: NodeContext) -> tuple[Value, Value, list[Value]]:
    return ctx.input(0), ctx.input(1), [ctx.input(i) for i in range(2, ctx.num_inputs)]


@converter("Adagrad", domain=TRAINING)
def adagrad(ctx: NodeContext) -> list[Value]:
    ctx.check_attrs("decay_factor", "epsilon", "norm_coefficient")
    r, t, xs = _operands(ctx)
    op = ctx.emit(
        nn.Adagrad,
        r,
        t,
        xs,
        decay_factor=ctx.attr("decay_factor", 0.0),
        epsilon=ctx.attr("epsilon", 1e-6),
        norm_coefficient=ctx.attr("norm_coefficient", 0.0),
    )
    return list(op.results)


@converter("Adam", domain=TRAINING)
def adam(ctx: NodeContext) -> list[Value]:
    ctx.check_attrs("alpha", "beta", "epsilon", "norm_coefficient", "norm_coefficient_post")
    r, t, xs = _operands(ctx)
    op = ctx.emit(
        nn.Adam,
        r,
        t,
        xs,
        alpha=ctx.attr("alpha", 0.9),
        beta=ctx.attr("beta", 0.999),
        epsilon=ctx.attr("epsilon", 1e-6),
        norm_coefficient=ctx.attr("norm_coefficient", 0.0),
        norm_coefficient_post=ctx.attr("norm_coefficient_post", 0.0),
    )
    return list(op.results)


@converter("Momentum", domain=TRAINING)
def momentum(ctx: NodeContext) -> list[Value]:
    ctx.check_attrs("alpha", "beta", "mode", "norm_coefficient")
    r, t, xs = _operands(ctx)
    mode = ctx.attr("mode")
    if mode not in ("standard", "nesterov"):
        ctx.fail(f"mode must be 'standard' or 'nesterov', found {mode!r}")
    op = ctx.emit(
        nn.Momentum,
        r,
        t,
        xs,
        alpha=ctx.attr("alpha"),
        beta=ctx.attr("beta"),
        mode=mode,
        norm_coefficient=ctx.attr("norm_coefficient"),
    )
    return list(op.results)
