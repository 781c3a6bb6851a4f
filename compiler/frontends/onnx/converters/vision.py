"""Vision layers: RoiAlign, MaxRoiPool, GridSample, AffineGrid, NonMaxSuppression."""

from __future__ import annotations

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.registry import converter
from tritium.ir.core import Value
from tritium.ir.dialects import nn


def choice(ctx: NodeContext, name: str, default: str, allowed: tuple[str, ...]) -> str:
    v = ctx.attr(name, default)
    if v not in allowed:
        ctx.fail(f"{name} '{v}' is not one of {', '.join(allowed)}")
    return v


@converter("RoiAlign", since=10)
def roi_align(ctx: NodeContext) -> Value:
    ctx.check_attrs(
        "coordinate_transformation_mode",
        "mode",
        "output_height",
        "output_width",
        "sampling_ratio",
        "spatial_scale",
    )
    # Opset 10 had no coordinate_transformation_mode: it behaved as output_half_pixel.
    default_ctm = "half_pixel" if ctx.opset >= 16 else "output_half_pixel"
    return ctx.value(
        nn.RoiAlign,
        ctx.input(0),
        ctx.input(1),
        ctx.input(2),
        coordinate_transformation_mode=choice(
            ctx, "coordinate_transformation_mode", default_ctm, ("half_pixel", "output_half_pixel")
        ),
        mode=choice(ctx, "mode", "avg", ("avg", "max")),
        output_height=ctx.attr("output_height", 1),
        output_width=ctx.attr("output_width", 1),
        sampling_ratio=ctx.attr("sampling_ratio", 0),
        spatial_scale=ctx.attr("spatial_scale", 1.0),
    )


@converter("MaxRoiPool")
def max_roi_pool(ctx: NodeContext) -> Value:
    ctx.check_attrs("pooled_shape", "spatial_scale")
    return ctx.value(
        nn.MaxRoiPool,
        ctx.input(0),
        ctx.input(1),
        pooled_shape=tuple(ctx.attr("pooled_shape")),
        spatial_scale=ctx.attr("spatial_scale", 1.0),
    )


@converter("GridSample", since=16)
def grid_sample(ctx: NodeContext) -> Value:
    ctx.check_attrs("align_corners", "mode", "padding_mode")
    if ctx.opset < 20:  # opset 16: 4-D only, modes named bilinear / bicubic
        mode = choice(ctx, "mode", "bilinear", ("bilinear", "nearest", "bicubic"))
        mode = {"bilinear": "linear", "bicubic": "cubic"}.get(mode, mode)
        if ctx.rank(0) != 4:
            ctx.fail(f"GridSample before opset 20 takes 4-D input, found rank {ctx.rank(0)}")
    else:
        mode = choice(ctx, "mode", "linear", ("linear", "nearest", "cubic"))
    return ctx.value(
        nn.GridSample,
        ctx.input(0),
        ctx.input(1),
        align_corners=bool(ctx.attr("align_corners", 0)),
        mode=mode,
        padding_mode=choice(ctx, "padding_mode", "zeros", ("zeros", "border", "reflection")),
    )


@converter("AffineGrid", since=20)
def affine_grid(ctx: NodeContext) -> Value:
    ctx.check_attrs("align_corners")
    return ctx.value(
        nn.AffineGrid, ctx.input(0), ctx.folded_input(1), align_corners=bool(ctx.attr("align_corners", 0))
    )


@converter("NonMaxSuppression", since=10)
def non_max_suppression(ctx: NodeContext) -> Value:
    ctx.check_attrs("center_point_box")
    return ctx.value(
        nn.NonMaxSuppression,
        ctx.input(0),
        ctx.input(1),
        ctx.opt_input(2),
        ctx.opt_input(3),
        ctx.opt_input(4),
        center_point_box=ctx.attr("center_point_box", 0),
    )
