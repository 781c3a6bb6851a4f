"""Losses: NegativeLogLikelihoodLoss, and SoftmaxCrossEntropyLoss as log-softmax then NLL."""

from __future__ import annotations

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.registry import converter
from tritium.ir.core import Value
from tritium.ir.dialects import nn


def _nll(ctx: NodeContext, log_prob: Value) -> Value:
    return ctx.value(
        nn.NegativeLogLikelihoodLoss,
        log_prob,
        ctx.input(1),
        ctx.opt_input(2),
        reduction=ctx.attr("reduction", "mean"),
        ignore_index=ctx.attr("ignore_index", None),
    )


@converter("NegativeLogLikelihoodLoss")
def negative_log_likelihood_loss(ctx: NodeContext) -> Value:
    ctx.check_attrs("reduction", "ignore_index")
    return _nll(ctx, ctx.input(0))


@converter("SoftmaxCrossEntropyLoss")
def softmax_cross_entropy_loss(ctx: NodeContext) -> list[Value]:
    """loss = NLL(log_softmax(scores, axis=1), labels); the optional 2nd output is the log-softmax."""
    ctx.check_attrs("reduction", "ignore_index")
    if ctx.rank(0) < 2:
        ctx.fail(f"scores must be (N, C, ...), found {ctx.type(0)}")
    log_prob = ctx.value(nn.LogSoftmax, ctx.input(0), axis=1)
    return [_nll(ctx, log_prob), log_prob]
