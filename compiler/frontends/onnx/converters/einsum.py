"""Einsum."""

from __future__ import annotations

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.registry import converter
from tritium.ir.core import Value
from tritium.ir.dialects import nn


@converter("Einsum")
def einsum(ctx: NodeContext) -> Value:
    ctx.check_attrs("equation")
    inputs = [v for v in ctx.inputs() if v is not None]
    return ctx.value(nn.Einsum, inputs, equation=ctx.attr("equation"))
