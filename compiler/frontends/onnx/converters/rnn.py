"""Recurrent layers: RNN, GRU, LSTM. Activations, their alpha/beta and the defaults are made explicit."""

from __future__ import annotations

from typing import Any

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.registry import converter
from tritium.ir.core import Value
from tritium.ir.dialects import nn
from tritium.ir.dialects.nn.rnn import ACTIVATIONS, ALPHA_DEFAULTS, BETA_DEFAULTS

DEFAULT_ACTIVATIONS = {"RNN": ("Tanh",), "GRU": ("Sigmoid", "Tanh"), "LSTM": ("Sigmoid", "Tanh", "Tanh")}
BY_LOWER = {name.lower(): name for name in ACTIVATIONS}


def recurrent_attrs(ctx: NodeContext) -> dict[str, Any]:
    direction = ctx.attr("direction", "forward")
    if direction not in ("forward", "reverse", "bidirectional"):
        ctx.fail(f"direction '{direction}' is not one of forward, reverse, bidirectional")
    dirs = 2 if direction == "bidirectional" else 1
    per_dir = DEFAULT_ACTIVATIONS[ctx.op_type]
    names = list(ctx.attr("activations", per_dir * dirs))
    if len(names) == len(per_dir) and dirs == 2:
        names = names * 2  # one set given for both directions
    if len(names) != len(per_dir) * dirs:
        ctx.fail(f"expected {len(per_dir) * dirs} activations, found {len(names)}: {names}")
    acts = []
    for a in names:
        if a.lower() not in BY_LOWER:
            ctx.fail(f"activation '{a}' is not supported (one of {', '.join(ACTIVATIONS)})")
        acts.append(BY_LOWER[a.lower()])
    # alpha and beta values are consumed, in order, by the activations that take them
    alphas, betas = list(ctx.attr("activation_alpha", ())), list(ctx.attr("activation_beta", ()))
    alpha, beta = [], []
    for a in acts:
        alpha.append(alphas.pop(0) if a in ALPHA_DEFAULTS and alphas else ALPHA_DEFAULTS.get(a, 0.0))
        beta.append(betas.pop(0) if a in BETA_DEFAULTS and betas else BETA_DEFAULTS.get(a, 0.0))
    if alphas or betas:
        ctx.fail("more activation_alpha/activation_beta values than activations that take them")
    hidden = ctx.attr("hidden_size", None)
    if hidden is None:
        wt = ctx.type(1)
        gates = {"RNN": 1, "GRU": 3, "LSTM": 4}[ctx.op_type]
        if wt.shape is None or not isinstance(wt.shape[1], int):
            ctx.fail("hidden_size is not given and the weight shape does not tell it")
        hidden = wt.shape[1] // gates
    return dict(
        hidden_size=int(hidden),
        direction=direction,
        activations=tuple(acts),
        activation_alpha=tuple(alpha),
        activation_beta=tuple(beta),
        clip=ctx.attr("clip", None),
        layout=ctx.attr("layout", 0),
    )


COMMON = (
    "activation_alpha",
    "activation_beta",
    "activations",
    "clip",
    "direction",
    "hidden_size",
    "layout",
    "output_sequence",  # opset 1: only says whether Y is wanted; Y is produced when the node names it
)


def operands(ctx: NodeContext, count: int) -> list[Value | None]:
    return [ctx.input(0), ctx.input(1), ctx.input(2), *(ctx.opt_input(i) for i in range(3, count))]


@converter("RNN")
def rnn(ctx: NodeContext) -> list[Value]:
    ctx.check_attrs(*COMMON)
    op = ctx.emit(nn.RNN, *operands(ctx, 6), **recurrent_attrs(ctx))
    return [op.y, op.y_h]


@converter("GRU")
def gru(ctx: NodeContext) -> list[Value]:
    ctx.check_attrs(*COMMON, "linear_before_reset")
    op = ctx.emit(
        nn.GRU,
        *operands(ctx, 6),
        linear_before_reset=bool(ctx.attr("linear_before_reset", 0)),
        **recurrent_attrs(ctx),
    )
    return [op.y, op.y_h]


@converter("LSTM")
def lstm(ctx: NodeContext) -> list[Value]:
    ctx.check_attrs(*COMMON, "input_forget")
    op = ctx.emit(
        nn.LSTM,
        *operands(ctx, 8),
        input_forget=bool(ctx.attr("input_forget", 0)),
        **recurrent_attrs(ctx),
    )
    return [op.y, op.y_h, op.y_c]
