"""Ops that make new tensors: ConstantOfShape, Range, EyeLike, OneHot."""

from __future__ import annotations

import numpy as np

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.registry import converter
from tritium.ir import dtypes as D
from tritium.ir.attributes import Dense
from tritium.ir.core import Value
from tritium.ir.dialects import nn


def _onnx_dtype(ctx: NodeContext, code: int) -> D.DType:
    import onnx

    try:
        return D.DType.from_numpy(onnx.helper.tensor_dtype_to_np_dtype(code))
    except (KeyError, ValueError, TypeError):
        ctx.fail(f"data type {code} is not supported")


@converter("ConstantOfShape", since=9)
def constant_of_shape(ctx: NodeContext) -> Value:
    ctx.check_attrs("value")
    value = ctx.attr("value", None)
    arr = np.zeros(1, np.float32) if value is None else np.asarray(value).reshape(-1)
    if arr.size != 1:
        ctx.fail(f"attribute 'value' must hold one element, found {arr.size}")
    return ctx.value(nn.ConstantOfShape, ctx.folded_input(0), value=Dense.from_array(arr))


@converter("Range", since=11)
def range_(ctx: NodeContext) -> Value:
    ctx.check_attrs("stash_type")
    stash = _onnx_dtype(ctx, ctx.attr("stash_type", 1))
    args = [ctx.folded_input(i) for i in range(3)]
    return ctx.value(nn.Range, *args, stash_type=stash)


@converter("EyeLike", since=9)
def eye_like(ctx: NodeContext) -> Value:
    ctx.check_attrs("dtype", "k")
    dtype = _onnx_dtype(ctx, ctx.attr("dtype")) if ctx.has_attr("dtype") else ctx.type(0).dtype
    return ctx.value(nn.EyeLike, ctx.input(0), dtype=dtype, k=ctx.attr("k", 0))


@converter("OneHot", since=9)
def one_hot(ctx: NodeContext) -> Value:
    ctx.check_attrs("axis")
    return ctx.value(nn.OneHot, ctx.input(0), ctx.folded_input(1), ctx.input(2), axis=ctx.attr("axis", -1))
