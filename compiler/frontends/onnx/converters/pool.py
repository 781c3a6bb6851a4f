"""Pooling: MaxPool, AveragePool, LpPool, their global forms, and MaxUnpool. Every opset maps to one
op form with explicit kernel_shape, strides, dilations and pads (auto_pad resolved)."""

from __future__ import annotations

from typing import Any

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.converters.conv import resolve_auto_pad
from tritium.frontends.onnx.registry import converter
from tritium.ir.core import Value
from tritium.ir.dialects import nn


def pool_attrs(ctx: NodeContext) -> dict[str, Any]:
    """kernel_shape, strides, dilations, explicit pads and ceil_mode of a windowed pool."""
    kernel = [int(k) for k in ctx.attr("kernel_shape")]
    n = len(kernel)
    rank = ctx.type(0).rank
    if rank is not None and rank != n + 2:
        ctx.fail(f"input rank {rank} does not fit a {n}-d kernel_shape {kernel}")
    strides = [int(s) for s in ctx.attr("strides", (1,) * n)]
    dilations = [int(d) for d in ctx.attr("dilations", (1,) * n)]
    if len(strides) != n or len(dilations) != n:
        ctx.fail(f"strides {strides} and dilations {dilations} must have {n} values")
    shape = ctx.type(0).shape
    spatial = list(shape[2:]) if shape is not None else [None] * n
    pads = resolve_auto_pad(ctx, spatial, kernel, strides, dilations)
    if len(pads) != 2 * n:
        ctx.fail(f"pads {pads} must have {2 * n} values")
    ceil_mode = bool(ctx.attr("ceil_mode", 0))
    if ctx.attr("auto_pad", "NOTSET") not in ("NOTSET", ""):
        ceil_mode = False  # with auto_pad the output size is the same in both modes (see the spec)
    return dict(
        kernel_shape=tuple(kernel),
        strides=tuple(strides),
        pads=tuple(pads),
        dilations=tuple(dilations),
        ceil_mode=ceil_mode,
    )


@converter("MaxPool")
def max_pool(ctx: NodeContext) -> list[Value]:
    ctx.check_attrs("auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides")
    op = ctx.emit(nn.MaxPool, ctx.input(0), storage_order=ctx.attr("storage_order", 0), **pool_attrs(ctx))
    return [op.out, op.indices]


@converter("AveragePool")
def average_pool(ctx: NodeContext) -> Value:
    ctx.check_attrs(
        "auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape", "pads", "strides"
    )
    return ctx.value(
        nn.AveragePool,
        ctx.input(0),
        count_include_pad=bool(ctx.attr("count_include_pad", 0)),
        **pool_attrs(ctx),
    )


def lp_order(ctx: NodeContext) -> int:
    p = ctx.attr("p", 2)
    if float(p) != int(p) or int(p) < 1:
        ctx.fail(f"p must be a positive integer, found {p}")
    return int(p)


@converter("LpPool")
def lp_pool(ctx: NodeContext) -> Value:
    ctx.check_attrs("auto_pad", "ceil_mode", "dilations", "kernel_shape", "p", "pads", "strides")
    return ctx.value(nn.LpPool, ctx.input(0), p=lp_order(ctx), **pool_attrs(ctx))


@converter("GlobalAveragePool")
def global_average_pool(ctx: NodeContext) -> Value:
    ctx.check_attrs()
    return ctx.value(nn.GlobalAveragePool, ctx.input(0))


@converter("GlobalMaxPool")
def global_max_pool(ctx: NodeContext) -> Value:
    ctx.check_attrs()
    return ctx.value(nn.GlobalMaxPool, ctx.input(0))


@converter("GlobalLpPool")
def global_lp_pool(ctx: NodeContext) -> Value:
    ctx.check_attrs("p")
    return ctx.value(nn.GlobalLpPool, ctx.input(0), p=lp_order(ctx))


@converter("MaxUnpool", since=9)
def max_unpool(ctx: NodeContext) -> Value:
    ctx.check_attrs("kernel_shape", "pads", "strides")
    kernel = tuple(int(k) for k in ctx.attr("kernel_shape"))
    n = len(kernel)
    shape = ctx.folded_input(2) if ctx.has_input(2) else None
    return ctx.value(
        nn.MaxUnpool,
        ctx.input(0),
        ctx.input(1),
        shape,
        kernel_shape=kernel,
        strides=tuple(ctx.attr("strides", (1,) * n)),
        pads=tuple(ctx.attr("pads", (0,) * (2 * n))),
    )
