"""Normalizations (BatchNormalization, InstanceNormalization, LayerNormalization, GroupNormalization,
RMSNormalization, LpNormalization, MeanVarianceNormalization, LRN) and Dropout."""

from __future__ import annotations

import numpy as np

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.proto import onnx_dtype
from tritium.frontends.onnx.registry import converter
from tritium.ir import dtypes as D
from tritium.ir.core import Value
from tritium.ir.dialects import nn


def requested(ctx: NodeContext, i: int) -> bool:
    """Whether the node asks for output ``i``."""
    return i < ctx.num_outputs and bool(ctx.node.output[i])


def stash_dtype(ctx: NodeContext) -> D.DType:
    dt = onnx_dtype(int(ctx.attr("stash_type", 1)), "stash_type")
    if not dt.is_float:
        ctx.fail(f"stash_type must be a float type, found {dt}")
    return dt


@converter("BatchNormalization")
def batch_norm_legacy(ctx: NodeContext) -> Value:
    """Opsets 1-13: the inference form (as every runtime treats is_test); training outputs unsupported."""
    ctx.check_attrs("consumed_inputs", "epsilon", "is_test", "momentum", "spatial")
    if any(requested(ctx, i) for i in range(1, ctx.num_outputs)):
        ctx.fail("the training outputs (mean, var, saved_mean, saved_var) before opset 14 are not supported")
    if ctx.attr("spatial", 1) == 0 and ctx.rank(0) > 2:
        ctx.fail("spatial=0 (per-element statistics) is not supported")
    op = ctx.emit(
        nn.BatchNormalization,
        *(ctx.input(i) for i in range(5)),
        epsilon=ctx.attr("epsilon", 1e-5),
        momentum=ctx.attr("momentum", 0.9),
        training_mode=False,
    )
    return op.out


@converter("BatchNormalization", since=14)
def batch_norm(ctx: NodeContext) -> list[Value | None]:
    ctx.check_attrs("epsilon", "momentum", "training_mode")
    training = bool(ctx.attr("training_mode", 0))
    if not training and (requested(ctx, 1) or requested(ctx, 2)):
        ctx.fail("running_mean and running_var are only produced with training_mode=1")
    op = ctx.emit(
        nn.BatchNormalization,
        *(ctx.input(i) for i in range(5)),
        epsilon=ctx.attr("epsilon", 1e-5),
        momentum=ctx.attr("momentum", 0.9),
        training_mode=training,
    )
    return [op.out, op.running_mean, op.running_var] if training else [op.out]


@converter("InstanceNormalization")
def instance_norm(ctx: NodeContext) -> Value:
    ctx.check_attrs("consumed_inputs", "epsilon")
    return ctx.value(
        nn.InstanceNormalization, ctx.input(0), ctx.input(1), ctx.input(2), epsilon=ctx.attr("epsilon", 1e-5)
    )


@converter("LayerNormalization", since=17)
def layer_norm(ctx: NodeContext) -> list[Value]:
    ctx.check_attrs("axis", "epsilon", "stash_type")
    op = ctx.emit(
        nn.LayerNormalization,
        ctx.input(0),
        ctx.input(1),
        ctx.opt_input(2),
        axis=ctx.attr("axis", -1),
        epsilon=ctx.attr("epsilon", 1e-5),
        stash_type=stash_dtype(ctx),
    )
    return [op.out, op.mean, op.inv_std_dev]


def per_group_to_per_channel(ctx: NodeContext, i: int, groups: int) -> Value:
    """Opset 18 gives scale and bias per group; repeat each value for the group's channels."""
    shape = ctx.type(0).shape
    c = shape[1] if shape is not None and len(shape) > 1 else None
    if not isinstance(c, int):
        ctx.fail("GroupNormalization before opset 21 needs a static channel count")
    const = ctx.const(i)
    if const is not None:
        return ctx.constant(np.repeat(np.asarray(const).reshape(groups), c // groups))
    v = ctx.input(i)
    col = ctx.value(nn.Reshape, v, ctx.ints_const([groups, 1]))
    ones = ctx.constant(np.ones((groups, c // groups), ctx.type(i).dtype.np_dtype))
    return ctx.value(nn.Reshape, ctx.value(nn.Mul, col, ones), ctx.ints_const([c]))


@converter("GroupNormalization", since=18)
def group_norm(ctx: NodeContext) -> Value:
    ctx.check_attrs("epsilon", "num_groups", "stash_type")
    groups = int(ctx.attr("num_groups"))
    scale, bias = ctx.input(1), ctx.input(2)
    if ctx.opset < 21:
        scale, bias = per_group_to_per_channel(ctx, 1, groups), per_group_to_per_channel(ctx, 2, groups)
    return ctx.value(
        nn.GroupNormalization,
        ctx.input(0),
        scale,
        bias,
        num_groups=groups,
        epsilon=ctx.attr("epsilon", 1e-5),
        stash_type=stash_dtype(ctx),
    )


@converter("RMSNormalization", since=23)
def rms_norm(ctx: NodeContext) -> Value:
    ctx.check_attrs("axis", "epsilon", "stash_type")
    return ctx.value(
        nn.RMSNormalization,
        ctx.input(0),
        ctx.input(1),
        axis=ctx.attr("axis", -1),
        epsilon=ctx.attr("epsilon", 1e-5),
        stash_type=stash_dtype(ctx),
    )


@converter("LpNormalization")
def lp_norm(ctx: NodeContext) -> Value:
    ctx.check_attrs("axis", "p")
    p = ctx.attr("p", 2)
    if p not in (1, 2):
        ctx.fail(f"p must be 1 or 2, found {p}")
    return ctx.value(nn.LpNormalization, ctx.input(0), axis=ctx.attr("axis", -1), p=p)


@converter("MeanVarianceNormalization", since=9)
def mvn(ctx: NodeContext) -> Value:
    ctx.check_attrs("axes")
    return ctx.value(nn.MeanVarianceNormalization, ctx.input(0), axes=tuple(ctx.attr("axes", (0, 2, 3))))


@converter("LRN")
def lrn(ctx: NodeContext) -> Value:
    ctx.check_attrs("alpha", "beta", "bias", "size")
    return ctx.value(
        nn.LRN,
        ctx.input(0),
        size=ctx.attr("size"),
        alpha=ctx.attr("alpha", 1e-4),
        beta=ctx.attr("beta", 0.75),
        bias=ctx.attr("bias", 1.0),
    )


@converter("Dropout")
def dropout_legacy(ctx: NodeContext) -> list[Value]:
    """Opsets 1-11: ratio is an attribute; before opset 7, is_test=0 asks for training (random)."""
    ctx.check_attrs("consumed_inputs", "is_test", "ratio", "seed")
    ratio = float(ctx.attr("ratio", 0.5))
    if ctx.opset < 7 and not ctx.attr("is_test", 0) and ratio != 0.0:
        ctx.fail(f"training-mode dropout (is_test=0) with ratio {ratio} is random and not supported")
    if ctx.opset < 10 and requested(ctx, 1):
        ctx.fail("the mask output before opset 10 (a float tensor) is not supported")
    if not requested(ctx, 1):
        return [ctx.input(0)]
    op = ctx.emit(nn.Dropout, ctx.input(0))
    return [op.out, op.mask]


@converter("Dropout", since=12)
def dropout(ctx: NodeContext) -> list[Value]:
    ctx.check_attrs("seed")
    ratio = ctx.folded_input(1) if ctx.has_input(1) else None
    training = ctx.folded_input(2) if ctx.has_input(2) else None
    t = ctx.const(2) if training is not None else np.asarray(False)
    r = ctx.const(1) if ratio is not None else np.asarray(0.5)
    if t is not None and r is not None and bool(t) and float(r) != 0.0:
        ctx.fail(f"training-mode dropout with ratio {float(r)} is random and not supported")
    if t is not None and not bool(t) and not requested(ctx, 1):
        return [ctx.input(0)]  # inference without a mask: the identity
    seed = ctx.attr("seed", None)
    op = ctx.emit(nn.Dropout, ctx.input(0), ratio, training, seed=seed)
    return [op.out, op.mask]
