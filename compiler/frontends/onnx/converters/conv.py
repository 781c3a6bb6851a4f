"""Convolutions (Conv, ConvTranspose, DeformConv, CausalConvWithState, ConvInteger, QLinearConv) and\ntheir padding rules: pads always come out explicit."""

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


def conv_geometry(ctx: NodeContext, w_index: int = 1) -> dict:
    """strides, explicit pads and dilations of a convolution whose weight is input ``w_index``
    (``kernel_shape``, when given, must match the weight)."""
    wt = ctx.type(w_index)
    if wt.shape is None or len(wt.shape) < 3:
        ctx.fail(f"the weight must have a known rank >= 3, found {wt}")
    n = len(wt.shape) - 2
    kernel = list(wt.shape[2:])
    if ctx.has_attr("kernel_shape"):
        given = [int(k) for k in ctx.attr("kernel_shape")]
        if len(given) != n or any(isinstance(k, int) and k != g for k, g in zip(kernel, given)):
            ctx.fail(f"kernel_shape {given} does not match the weight {wt}")
        kernel = given
    if any(not isinstance(k, int) for k in kernel):
        ctx.fail(f"kernel shape {kernel} must be static")
    strides = [int(v) for v in ctx.attr("strides", (1,) * n)]
    dilations = [int(v) for v in ctx.attr("dilations", (1,) * n)]
    if len(strides) != n or len(dilations) != n:
        ctx.fail(f"strides {strides} and dilations {dilations} must have {n} values")
    xt = ctx.type(0)
    spatial = list(xt.shape[2:]) if xt.shape is not None else [None] * n
    pads = resolve_auto_pad(ctx, spatial, kernel, strides, dilations)
    return dict(strides=tuple(strides), pads=tuple(pads), dilations=tuple(dilations))


@converter("Conv")
def conv(ctx: NodeContext) -> Value:
    ctx.check_attrs("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides")
    return ctx.value(
        nn.Conv,
        ctx.input(0),
        ctx.input(1),
        ctx.opt_input(2),
        group=ctx.attr("group", 1),
        **conv_geometry(ctx),
    )


def split_padding(total: int, upper: bool) -> tuple[int, int]:
    """(begin, end) of a transposed convolution's total padding; a negative total extends the end."""
    if total < 0:
        return 0, total
    return (total // 2, total - total // 2) if upper else (total - total // 2, total // 2)


@converter("ConvTranspose")
def conv_transpose(ctx: NodeContext) -> Value:
    ctx.check_attrs(
        "auto_pad", "dilations", "group", "kernel_shape", "output_padding", "output_shape", "pads", "strides"
    )
    wt = ctx.type(1)
    if wt.shape is None or len(wt.shape) < 3:
        ctx.fail(f"the weight must have a known rank >= 3, found {wt}")
    n = len(wt.shape) - 2
    kernel = list(ctx.attr("kernel_shape", wt.shape[2:]))
    if any(not isinstance(k, int) for k in kernel):
        ctx.fail(f"kernel shape {kernel} must be static")
    if len(kernel) != n or any(isinstance(w, int) and w != k for w, k in zip(wt.shape[2:], kernel)):
        ctx.fail(f"kernel_shape {kernel} does not match the weight {wt}")
    strides = [int(v) for v in ctx.attr("strides", (1,) * n)]
    dilations = [int(v) for v in ctx.attr("dilations", (1,) * n)]
    out_pad = [int(v) for v in ctx.attr("output_padding", (0,) * n)]
    mode = ctx.attr("auto_pad", "NOTSET") or "NOTSET"
    xt = ctx.type(0)
    spatial = list(xt.shape[2:]) if xt.shape is not None else [None] * n
    target = None
    if ctx.has_attr("output_shape"):
        target = [int(v) for v in ctx.attr("output_shape")]
        target = target[-n:] if len(target) == n + 2 else target
        if len(target) != n:
            ctx.fail(f"output_shape {target} must have {n} values")
    elif mode in ("SAME_UPPER", "SAME_LOWER"):
        target = [s * d if isinstance(d, int) else None for s, d in zip(strides, spatial)]
    elif mode not in ("NOTSET", "VALID"):
        ctx.fail(f"auto_pad '{mode}' is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER")
    if target is not None:
        begin, end = [], []
        for i in range(n):
            if not isinstance(spatial[i], int):
                ctx.fail(f"output_shape or auto_pad {mode} needs static spatial sizes, found {spatial}")
            total = (
                strides[i] * (spatial[i] - 1) + out_pad[i] + (kernel[i] - 1) * dilations[i] + 1 - target[i]
            )
            if not ctx.has_attr("output_shape"):
                total = max(total, 0)  # SAME with a kernel smaller than the stride: no padding (ONNX, ORT)
            b, e = split_padding(total, mode == "SAME_UPPER")
            begin.append(b)
            end.append(e)
        pads = begin + end
    elif mode == "VALID":
        pads = [0] * (2 * n)
    else:
        pads = [int(v) for v in ctx.attr("pads", (0,) * (2 * n))]
    for i in range(n):  # a negative end padding appends zeros: that is output_padding
        if pads[n + i] < 0:
            out_pad[i] -= pads[n + i]
            pads[n + i] = 0
    return ctx.value(
        nn.ConvTranspose,
        ctx.input(0),
        ctx.input(1),
        ctx.opt_input(2),
        strides=tuple(strides),
        pads=tuple(pads),
        dilations=tuple(dilations),
        output_padding=tuple(out_pad),
        group=ctx.attr("group", 1),
    )


@converter("DeformConv", since=19)
def deform_conv(ctx: NodeContext) -> Value:
    ctx.check_attrs("dilations", "group", "kernel_shape", "offset_group", "pads", "strides")
    return ctx.value(
        nn.DeformConv,
        ctx.input(0),
        ctx.input(1),
        ctx.input(2),
        ctx.opt_input(3),
        ctx.opt_input(4),
        group=ctx.attr("group", 1),
        offset_group=ctx.attr("offset_group", 1),
        **conv_geometry(ctx),
    )


@converter("CausalConvWithState", since=27)
def causal_conv_with_state(ctx: NodeContext) -> list[Value]:
    ctx.check_attrs("activation")
    act = ctx.attr("activation", "none")
    if act not in ("none", "silu", "swish"):
        ctx.fail(f"activation '{act}' is not one of none, silu, swish")
    op = ctx.emit(
        nn.CausalConvWithState, ctx.input(0), ctx.input(1), ctx.opt_input(2), ctx.opt_input(3), activation=act
    )
    return [op.out, op.present_state]


@converter("ConvInteger", since=10)
def conv_integer(ctx: NodeContext) -> Value:
    ctx.check_attrs("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides")
    return ctx.value(
        nn.ConvInteger,
        ctx.input(0),
        ctx.input(1),
        ctx.opt_input(2),
        ctx.opt_input(3),
        group=ctx.attr("group", 1),
        **conv_geometry(ctx),
    )


@converter("QLinearConv", since=10)
def qlinear_conv(ctx: NodeContext) -> Value:
    ctx.check_attrs("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides")
    return ctx.value(
        nn.QLinearConv,
        *(ctx.input(i) for i in range(8)),
        ctx.opt_input(8),
        group=ctx.attr("group", 1),
        **conv_geometry(ctx, w_index=3),
    )
