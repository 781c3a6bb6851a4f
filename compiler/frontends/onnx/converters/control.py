"""Control flow: If (Loop and Scan to come), with subgraphs imported as regions."""

from __future__ import annotations

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.registry import converter
from tritium.ir.core import Value
from tritium.ir.dialects import nn


@converter("If")
def if_(ctx: NodeContext) -> list[Value]:
    then_r = ctx.subgraph("then_branch")
    else_r = ctx.subgraph("else_branch")
    op = ctx.emit(nn.If, ctx.input(0), regions=[then_r, else_r])
    return list(op.results)
