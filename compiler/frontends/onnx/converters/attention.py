"""Attention and its companions: Attention (to the 4-D nn.attention), FlexAttention, RotaryEmbedding,
LinearAttention, and SwiGLU (as sigmoid and products)."""

from __future__ import annotations

import math

import numpy as np

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.proto import onnx_dtype
from tritium.frontends.onnx.registry import converter
from tritium.ir import dtypes as D
from tritium.ir.core import Block, Region, Value
from tritium.ir.dialects import nn
from tritium.ir.rewriter import Builder
from tritium.ir.types import TensorType


def split_heads(ctx: NodeContext, x: Value, heads: int) -> Value:
    """(B, S, H*D) -> (B, H, S, D)."""
    x4 = ctx.value(nn.Reshape, x, ctx.ints_const([0, 0, heads, -1]))
    return ctx.value(nn.Transpose, x4, perm=(0, 2, 1, 3))


def merge_heads(ctx: NodeContext, x: Value) -> Value:
    """(B, H, S, D) -> (B, S, H*D)."""
    x4 = ctx.value(nn.Transpose, x, perm=(0, 2, 1, 3))
    return ctx.value(nn.Reshape, x4, ctx.ints_const([0, 0, -1]))


@converter("Attention", since=23)
def attention(ctx: NodeContext) -> list[Value]:
    ctx.check_attrs(
        "is_causal",
        "kv_num_heads",
        "q_num_heads",
        "qk_matmul_output_mode",
        "scale",
        "softcap",
        "softmax_precision",
        "left_window_size",
        "right_window_size",
    )
    q, k, v = ctx.input(0), ctx.input(1), ctx.input(2)
    ranks = [ctx.rank(i) for i in range(3)]
    packed = ranks[0] == 3
    if packed:
        if ranks != [3, 3, 3]:
            ctx.fail(f"Q, K and V must all be 3-D or all 4-D, found ranks {ranks}")
        hq, hkv = ctx.attr("q_num_heads", 0), ctx.attr("kv_num_heads", 0)
        if hq <= 0 or hkv <= 0:
            ctx.fail("3-D Q, K and V need the q_num_heads and kv_num_heads attributes")
        q, k, v = split_heads(ctx, q, hq), split_heads(ctx, k, hkv), split_heads(ctx, v, hkv)
    elif ranks != [4, 4, 4]:
        ctx.fail(f"Q, K and V must all be 3-D or all 4-D, found ranks {ranks}")
    scale = ctx.attr("scale", None)
    if scale is None:
        d = q.type.shape[3]  # type: ignore[attr-defined]
        if isinstance(d, int) and d > 0:
            scale = 1.0 / math.sqrt(d)
    precision = ctx.attr("softmax_precision", 0)
    op = ctx.emit(
        nn.Attention,
        q,
        k,
        v,
        ctx.opt_input(3),
        ctx.opt_input(4),
        ctx.opt_input(5),
        ctx.opt_input(6),
        scale=scale,
        is_causal=bool(ctx.attr("is_causal", 0)),
        softcap=float(ctx.attr("softcap", 0.0)),
        left_window_size=ctx.attr("left_window_size", -1),
        right_window_size=ctx.attr("right_window_size", -1),
        qk_matmul_output_mode=ctx.attr("qk_matmul_output_mode", 0),
        softmax_precision=onnx_dtype(precision, ctx.name) if precision else None,
    )
    y, present_k, present_v, qk = op.results
    if packed:
        y = merge_heads(ctx, y)
    return [y, present_k, present_v, qk]


def identity_region(t: TensorType) -> Region:
    """A region that yields its one argument."""
    body = Region([Block([t], ["x"])])
    Builder().set_end(body.block).create(nn.Yield, [body.block.args[0]])
    return body


@converter("FlexAttention", since=1, domain="ai.onnx.preview")
def flex_attention(ctx: NodeContext) -> Value:
    """Without modifiers this is nn.attention (softmax in f32, f64 for f64 inputs, unless given);
    with them, nn.flex_attention holding the modifier subgraphs as regions."""
    ctx.check_attrs("scale", "softmax_precision", "score_mod", "prob_mod")
    q, k, v = ctx.input(0), ctx.input(1), ctx.input(2)
    for i in range(3):
        if ctx.rank(i) != 4:
            ctx.fail(f"input #{i} must be 4-D, found {ctx.type(i)}")
    qt = ctx.type(0)
    code = ctx.attr("softmax_precision", 0)
    precision = onnx_dtype(code, ctx.name) if code else (D.f64 if qt.dtype == D.f64 else D.f32)
    scale = ctx.attr("scale", None)
    if scale is None and isinstance(qt.shape[3], int) and qt.shape[3] > 0:  # type: ignore[index]
        scale = 1.0 / math.sqrt(qt.shape[3])  # type: ignore[index]
    if not ctx.has_attr("score_mod") and not ctx.has_attr("prob_mod"):
        return ctx.value(nn.Attention, q, k, v, scale=scale, softmax_precision=precision)
    kt = ctx.type(1)
    scores_t = TensorType((qt.shape[0], qt.shape[1], qt.shape[2], kt.shape[2]), precision)  # type: ignore[index]
    regions = [
        ctx.subgraph(name, [scores_t]) if ctx.has_attr(name) else identity_region(scores_t)
        for name in ("score_mod", "prob_mod")
    ]
    return ctx.value(nn.FlexAttention, q, k, v, scale=scale, softmax_precision=precision, regions=regions)


@converter("RotaryEmbedding", since=23)
def rotary_embedding(ctx: NodeContext) -> Value:
    ctx.check_attrs("interleaved", "rotary_embedding_dim", "num_heads")
    return ctx.value(
        nn.RotaryEmbedding,
        ctx.input(0),
        ctx.input(1),
        ctx.input(2),
        ctx.opt_input(3),
        interleaved=bool(ctx.attr("interleaved", 0)),
        rotary_embedding_dim=ctx.attr("rotary_embedding_dim", 0),
        num_heads=ctx.attr("num_heads", 0),
    )


@converter("LinearAttention", since=27)
def linear_attention(ctx: NodeContext) -> list[Value]:
    # chunk_size only tunes a chunk-parallel implementation; the results do not depend on it.
    ctx.check_attrs("chunk_size", "kv_num_heads", "q_num_heads", "scale", "update_rule")
    hq, hkv = ctx.attr("q_num_heads"), ctx.attr("kv_num_heads")
    scale = float(ctx.attr("scale", 0.0)) or None
    if scale is None:
        feats = ctx.type(0).shape[2] if ctx.rank(0) == 3 else None  # type: ignore[index]
        if isinstance(feats, int) and hq > 0 and feats % hq == 0 and feats:
            scale = 1.0 / math.sqrt(feats // hq)
    op = ctx.emit(
        nn.LinearAttention,
        ctx.input(0),
        ctx.input(1),
        ctx.input(2),
        ctx.opt_input(3),
        ctx.opt_input(4),
        ctx.opt_input(5),
        q_num_heads=hq,
        kv_num_heads=hkv,
        update_rule=ctx.attr("update_rule", "gated_delta"),
        scale=scale,
    )
    return list(op.results)


@converter("SwiGLU", since=28)
def swiglu(ctx: NodeContext) -> Value:
    """Y = A * sigmoid(alpha * A) * B (A and B have one shape: no broadcasting)."""
    ctx.check_attrs("alpha")
    a, b = ctx.input(0), ctx.input(1)
    ta, tb = ctx.type(0), ctx.type(1)
    if ta.shape is not None and tb.shape is not None:
        if len(ta.shape) != len(tb.shape) or any(
            isinstance(x, int) and isinstance(y, int) and x != y for x, y in zip(ta.shape, tb.shape)
        ):
            ctx.fail(f"A {ta} and B {tb} must have the same shape")
    alpha = float(ctx.attr("alpha", 1.0))
    gate_in = a
    if alpha != 1.0:
        gate_in = ctx.value(nn.Mul, a, ctx.constant(np.asarray(alpha, ta.dtype.np_dtype)))
    swish = ctx.value(nn.Mul, a, ctx.value(nn.Sigmoid, gate_in))
    return ctx.value(nn.Mul, swish, b)
