"""Convolution and its padding rules."""

from __future__ import annotations

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.registry import converter
from tritium.ir.core import Value
from tritium.ir.dialects import nn


def resolve_auto_pad(
    ctx: NodeContext, spatial: list, kernel: list[int], strides: list[int], dilations: list[int]
) -> list[int]:
    """Explicit [begin..., end...] pads for ONNX's auto_pad (SAME_UPPER/SAME_LOWER need static sizes)."""
    mode = ctx.attr("auto_pad", "NOTSET")
    n = len(kernel)
    if mode in ("NOTSET", ""):
        return list(ctx.attr("pads", (0,) * (2 * n)))
    if mode == "VALID":
        return [0] * (2 * n)
    if mode not in ("SAME_UPPER", "SAME_LOWER"):
        ctx.fail(f"auto_pad '{mode}' is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER")
    begin, end = [], []
    for size, k, s, d in zip(spatial, kernel, strides, dilations):
        if not isinstance(size, int):
            ctx.fail(f"auto_pad {mode} needs static spatial sizes, found {spatial}")
        out = -(-size // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        small, big = total // 2, total - total // 2
        begin.append(small if mode == "SAME_UPPER" else big)
        end.append(big if mode == "SAME_UPPER" else small)
    return begin + end


@converter("Conv")
def conv(ctx: NodeContext) -> Value:
    ctx.check_attrs("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides")
    x, w = ctx.input(0), ctx.input(1)
    wt = ctx.type(1)
    if wt.shape is None:
        ctx.fail("the weight's rank must be known")
    n = len(wt.shape) - 2
    kernel = list(ctx.attr("kernel_shape", wt.shape[2:]))
    if any(not isinstance(k, int) for k in kernel):
        ctx.fail(f"kernel shape {kernel} must be static")
    strides = list(ctx.attr("strides", (1,) * n))
    dilations = list(ctx.attr("dilations", (1,) * n))
    xt = ctx.type(0)
    spatial = list(xt.shape[2:]) if xt.shape is not None else [None] * n
    pads = resolve_auto_pad(ctx, spatial, kernel, strides, dilations)
    return ctx.value(
        nn.Conv,
        x,
        w,
        ctx.opt_input(2),
        strides=tuple(strides),
        pads=tuple(pads),
        dilations=tuple(dilations),
        group=ctx.attr("group", 1),
    )
