"""Sequences and optionals: SequenceEmpty/Construct/Insert/At/Erase/Length, ConcatFromSequence,
SplitToSequence, SequenceMap, Optional, OptionalHasElement, OptionalGetElement."""

from __future__ import annotations

import numpy as np

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.proto import onnx_dtype, type_from_proto
from tritium.frontends.onnx.registry import converter
from tritium.ir.core import Value
from tritium.ir.dialects import nn
from tritium.ir.dialects.nn import sequence as nn_sequence
from tritium.ir.types import OptionalType, SequenceType, Type


@converter("SequenceEmpty", since=11)
def sequence_empty(ctx: NodeContext) -> Value:
    ctx.check_attrs("dtype")
    return ctx.value(nn.SequenceEmpty, dtype=onnx_dtype(ctx.attr("dtype", 1), "attribute 'dtype'"))


@converter("SequenceConstruct", since=11)
def sequence_construct(ctx: NodeContext) -> Value:
    ctx.check_attrs()
    return ctx.value(nn.SequenceConstruct, [ctx.input(i) for i in range(ctx.num_inputs)])


@converter("SequenceInsert", since=11)
def sequence_insert(ctx: NodeContext) -> Value:
    ctx.check_attrs()
    return ctx.value(nn.SequenceInsert, ctx.input(0), ctx.input(1), ctx.opt_input(2))


@converter("SequenceAt", since=11)
def sequence_at(ctx: NodeContext) -> Value:
    ctx.check_attrs()
    return ctx.value(nn.SequenceAt, ctx.input(0), ctx.input(1))


@converter("SequenceErase", since=11)
def sequence_erase(ctx: NodeContext) -> Value:
    ctx.check_attrs()
    return ctx.value(nn.SequenceErase, ctx.input(0), ctx.opt_input(1))


@converter("SequenceLength", since=11)
def sequence_length(ctx: NodeContext) -> Value:
    ctx.check_attrs()
    return ctx.value(nn.SequenceLength, ctx.input(0))


@converter("ConcatFromSequence", since=11)
def concat_from_sequence(ctx: NodeContext) -> Value:
    ctx.check_attrs("axis", "new_axis")
    return ctx.value(
        nn.ConcatFromSequence, ctx.input(0), axis=ctx.attr("axis"), new_axis=bool(ctx.attr("new_axis", 0))
    )


@converter("SplitToSequence", since=11)
def split_to_sequence(ctx: NodeContext) -> Value:
    ctx.check_attrs("axis", "keepdims")
    split = ctx.folded_input(1) if ctx.has_input(1) else None
    return ctx.value(
        nn.SplitToSequence,
        ctx.input(0),
        split,
        axis=ctx.attr("axis", 0),
        keepdims=bool(ctx.attr("keepdims", 1)),
    )


@converter("SequenceMap", since=17)
def sequence_map(ctx: NodeContext) -> list[Value]:
    ctx.check_attrs("body")
    inputs = [ctx.input(i) for i in range(ctx.num_inputs)]
    if not isinstance(inputs[0].type, SequenceType):
        ctx.fail(f"input #0 must be a sequence, found {inputs[0].type}")
    types: list[Type] = [
        nn_sequence.unnamed(v.type.element) if isinstance(v.type, SequenceType) else v.type for v in inputs
    ]
    body = ctx.body("body", types, {})
    op = ctx.emit(nn.SequenceMap, inputs[0], inputs[1:], regions=[body])
    return list(op.results)


@converter("Optional", since=15)
def optional(ctx: NodeContext) -> Value:
    ctx.check_attrs("type")
    x = ctx.opt_input(0)
    elem = None
    if ctx.has_attr("type"):
        elem = type_from_proto(ctx.attr("type"), f"node '{ctx.name}' attribute 'type'")
    if x is None and elem is None:
        ctx.fail("an empty Optional needs the attribute 'type'")
    return ctx.value(nn.Optional, x, elem_type=elem)


@converter("OptionalHasElement", since=15)
def optional_has_element(ctx: NodeContext) -> Value:
    ctx.check_attrs()
    x = ctx.opt_input(0)
    if x is None:  # opset 18+: no input is an empty optional
        return ctx.constant(np.array(False))
    if not isinstance(x.type, OptionalType) and ctx.opset < 18:
        ctx.fail(f"the input must be an optional before opset 18, found {x.type}")
    return ctx.value(nn.OptionalHasElement, x)


@converter("OptionalGetElement", since=15)
def optional_get_element(ctx: NodeContext) -> Value:
    ctx.check_attrs()
    x = ctx.input(0)
    if not isinstance(x.type, OptionalType):
        if ctx.opset < 18:
            ctx.fail(f"the input must be an optional before opset 18, found {x.type}")
        return x  # opset 18+: a tensor or sequence is returned as it is
    return ctx.value(nn.OptionalGetElement, x)
