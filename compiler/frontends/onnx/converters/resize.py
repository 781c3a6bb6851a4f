"""Resize (opsets 10 to 19) and the deprecated Upsample, all as nn.resize."""

from __future__ import annotations

import numpy as np

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.registry import converter
from tritium.ir.core import Value
from tritium.ir.dialects import nn
from tritium.ir.dialects.nn.resize import ASPECT_POLICIES, COORDINATE_MODES, MODES, NEAREST_MODES

ATTRS = (
    "mode",
    "coordinate_transformation_mode",
    "nearest_mode",
    "cubic_coeff_a",
    "exclude_outside",
    "extrapolation_value",
    "antialias",
    "keep_aspect_ratio_policy",
    "axes",
)


def _given(ctx: NodeContext, i: int) -> Value | None:
    """Input ``i`` unless absent or empty (opsets 11-12 pass an empty scales next to sizes)."""
    if not ctx.has_input(i):
        return None
    t = ctx.type(i)
    if t.shape == (0,):
        return None
    c = ctx.const(i)
    if c is not None and c.size == 0:
        return None
    return ctx.folded_input(i)


def _choice(ctx: NodeContext, name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = ctx.attr(name, default)
    if value not in allowed:
        ctx.fail(f"{name} '{value}' is not supported")
    return value


@converter("Resize", since=11)
def resize(ctx: NodeContext) -> Value:
    ctx.check_attrs(*ATTRS)
    scales, sizes = _given(ctx, 2), _given(ctx, 3)
    if (scales is None) == (sizes is None):
        ctx.fail("exactly one of scales and sizes must be given")
    mode = _choice(ctx, "coordinate_transformation_mode", "half_pixel", COORDINATE_MODES)
    if mode == "half_pixel_symmetric" and ctx.opset < 19:
        ctx.fail("coordinate_transformation_mode 'half_pixel_symmetric' needs opset 19")
    roi = _given(ctx, 1) if mode == "tf_crop_and_resize" else None
    return ctx.value(
        nn.Resize,
        ctx.input(0),
        roi,
        scales,
        sizes,
        mode=_choice(ctx, "mode", "nearest", MODES),
        coordinate_transformation_mode=mode,
        nearest_mode=_choice(ctx, "nearest_mode", "round_prefer_floor", NEAREST_MODES),
        cubic_coeff_a=ctx.attr("cubic_coeff_a", -0.75),
        exclude_outside=bool(ctx.attr("exclude_outside", 0)),
        extrapolation_value=ctx.attr("extrapolation_value", 0.0),
        antialias=bool(ctx.attr("antialias", 0)),
        keep_aspect_ratio_policy=_choice(ctx, "keep_aspect_ratio_policy", "stretch", ASPECT_POLICIES),
        axes=ctx.attr("axes", None),
    )


def _legacy(ctx: NodeContext, scales: Value) -> Value:
    """Resize-10 and Upsample: output index i reads input i / scale (asymmetric), nearest rounds down."""
    mode = ctx.attr("mode", "nearest")
    if mode not in ("nearest", "linear"):
        ctx.fail(f"mode '{mode}' is not supported")
    return ctx.value(
        nn.Resize,
        ctx.input(0),
        None,
        scales,
        None,
        mode=mode,
        coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
    )


@converter("Resize", since=10)
def resize_v10(ctx: NodeContext) -> Value:
    ctx.check_attrs("mode")
    return _legacy(ctx, ctx.folded_input(1))


@converter("Upsample", since=9)
def upsample(ctx: NodeContext) -> Value:
    ctx.check_attrs("mode")
    return _legacy(ctx, ctx.folded_input(1))


@converter("Upsample", since=7)
def upsample_v7(ctx: NodeContext) -> Value:
    ctx.check_attrs("mode", "scales")
    return _legacy(ctx, ctx.constant(np.asarray(ctx.attr("scales"), np.float32)))
