"""Cast, CastLike (a cast to the second input's element type) and BitCast."""

from __future__ import annotations

from onnx import TensorProto

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.proto import ONNX_TO_DTYPE
from tritium.frontends.onnx.registry import converter
from tritium.ir.core import Value
from tritium.ir.dialects import nn
from tritium.ir.dtypes import DType


def _target(ctx: NodeContext, to: int | str | bytes) -> DType:
    """The element type named by ``to``: a TensorProto.DataType value (a name before opset 6)."""
    if isinstance(to, bytes):
        to = to.decode()
    if isinstance(to, str):
        try:
            to = TensorProto.DataType.Value(to.upper())
        except ValueError:
            ctx.fail(f"'to' names no element type: {to!r}")
    if to not in ONNX_TO_DTYPE:
        name = TensorProto.DataType.Name(to) if to in TensorProto.DataType.values() else str(to)
        ctx.fail(f"casts to {name} are not supported")
    return ONNX_TO_DTYPE[to]


def _cast(ctx: NodeContext, x: Value, to: DType) -> Value:
    # round_mode only concerns float8e8m0, which has no Tritium element type (rejected above).
    return ctx.value(nn.Cast, x, to=to, saturate=bool(ctx.attr("saturate", 1)))


@converter("Cast")
def cast(ctx: NodeContext) -> Value:
    ctx.check_attrs("to", "saturate", "round_mode")
    return _cast(ctx, ctx.input(0), _target(ctx, ctx.attr("to")))


@converter("CastLike", since=15)
def cast_like(ctx: NodeContext) -> Value:
    ctx.check_attrs("saturate", "round_mode")
    return _cast(ctx, ctx.input(0), ctx.type(1).dtype)


@converter("BitCast", since=26)
def bit_cast(ctx: NodeContext) -> Value:
    ctx.check_attrs("to")
    return ctx.value(nn.BitCast, ctx.input(0), to=_target(ctx, ctx.attr("to")))
