"""Matrix products."""

from __future__ import annotations

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.registry import converter
from tritium.ir.core import Value
from tritium.ir.dialects import nn


@converter("MatMul")
def matmul(ctx: NodeContext) -> Value:
    return ctx.value(nn.MatMul, ctx.input(0), ctx.input(1))
