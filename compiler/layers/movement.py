"""Data movement and shape layers: concatenation, shuffle, slice, gather, constant, padding,
resize, shape, squeeze/unsqueeze, LRN."""

from __future__ import annotations

import numpy as np

from tritium.enums import (
    GatherMode,
    InterpolationMode,
    LayerType,
    ResizeCoordinateTransformation,
    ResizeRoundMode,
    SampleMode,
)
from tritium.ir.core import Value
from tritium.ir.dialects import nn
from tritium.layers.base import ILayer, _default_axis, _Emitter, as_array, param


class IConcatenationLayer(ILayer):
    type = LayerType.CONCATENATION
    axis = param("axis")

    def _emit(self, e: _Emitter) -> list[Value]:
        vals = [t.value for t in self._inputs if t is not None]
        if not vals:
            raise e.fail("needs at least one input")
        axis = self._params.get("axis")
        if axis is None:
            axis = _default_axis(self._rank(vals[0]))
        return [e.value(nn.Concat, vals, axis=int(axis))]


class IShuffleLayer(ILayer):
    """first_transpose, then reshape (``reshape_dims``, or input #1 as a shape tensor), then
    second_transpose. With ``zero_is_placeholder`` (the default) a 0 copies the input's dimension."""

    type = LayerType.SHUFFLE
    first_transpose = param("first_transpose")
    reshape_dims = param("reshape_dims")
    second_transpose = param("second_transpose")
    zero_is_placeholder = param("zero_is_placeholder")

    def _max_inputs(self) -> int:
        return 2

    def _emit(self, e: _Emitter) -> list[Value]:
        p = self._params
        v = self._input(0)
        rank = self._rank(v)
        first = p.get("first_transpose")
        if first is not None and tuple(first) != tuple(range(rank)):
            if sorted(first) != list(range(rank)):
                raise e.fail(f"first_transpose {list(first)} is not a permutation of {rank} axes")
            v = e.value(nn.Transpose, v, perm=tuple(int(i) for i in first))
        shape_in = self._inputs[1] if len(self._inputs) > 1 else None
        dims = p.get("reshape_dims")
        if shape_in is not None:
            v = e.value(nn.Reshape, v, shape_in.value, allowzero=not p.get("zero_is_placeholder", True))
        elif dims is not None:
            v = e.value(
                nn.Reshape,
                v,
                e.const([int(d) for d in dims], np.int64),
                allowzero=not p.get("zero_is_placeholder", True),
            )
        second = p.get("second_transpose")
        if second is not None:
            r = self._rank(v)
            if tuple(second) != tuple(range(r)):
                if sorted(second) != list(range(r)):
                    raise e.fail(f"second_transpose {list(second)} is not a permutation of {r} axes")
                v = e.value(nn.Transpose, v, perm=tuple(int(i) for i in second))
        if v is self._input(0):
            v = e.value(nn.Cast, v, to=v.type.dtype)  # type: ignore[attr-defined]
        return [v]


class ISliceLayer(ILayer):
    """Output ``shape`` elements from ``start`` stepping by ``stride`` per axis (STRICT_BOUNDS, CLAMP)."""

    type = LayerType.SLICE
    start = param("start")
    shape = param("shape")
    stride = param("stride")
    mode = param("mode")

    def _emit(self, e: _Emitter) -> list[Value]:
        x = self._input(0)
        rank = self._rank(x)
        start, size, stride = (tuple(int(s) for s in self._params[k]) for k in ("start", "shape", "stride"))
        if not len(start) == len(size) == len(stride) == rank:
            raise e.fail(
                f"start {list(start)}, shape {list(size)} and stride {list(stride)} must each have {rank} entries"
            )
        mode = SampleMode(self._params.get("mode", SampleMode.STRICT_BOUNDS))
        dims = x.type.shape  # type: ignore[attr-defined]
        ends = []
        for i, (s, n, st) in enumerate(zip(start, size, stride)):
            last = s + (n - 1) * st
            d = dims[i]
            if (
                mode == SampleMode.STRICT_BOUNDS
                and isinstance(d, int)
                and n > 0
                and not (0 <= s < d and 0 <= last < d)
            ):
                raise e.fail(f"axis {i}: elements {s}..{last} (stride {st}) leave the input's {d} elements")
            if mode not in (SampleMode.STRICT_BOUNDS,):
                raise e.fail(f"sample mode {mode.name} is not supported (STRICT_BOUNDS is)")
            ends.append(last + (1 if st > 0 else -1) if last + (1 if st > 0 else -1) >= 0 else -(2**62))
        return [
            e.value(
                nn.Slice,
                x,
                e.const(start, np.int64),
                e.const(ends, np.int64),
                e.const(list(range(rank)), np.int64),
                e.const(stride, np.int64),
            )
        ]


class IGatherLayer(ILayer):
    type = LayerType.GATHER
    axis = param("axis")
    mode = param("mode")
    num_elementwise_dims = param("num_elementwise_dims")

    def _emit(self, e: _Emitter) -> list[Value]:
        data, idx = self._input(0), self._input(1)
        mode = GatherMode(self._params.get("mode", GatherMode.DEFAULT))
        if mode == GatherMode.ELEMENT:
            return [e.value(nn.GatherElements, data, idx, axis=int(self._params["axis"]))]
        if mode == GatherMode.ND:
            return [
                e.value(nn.GatherND, data, idx, batch_dims=int(self._params.get("num_elementwise_dims") or 0))
            ]
        if self._params.get("num_elementwise_dims"):
            raise e.fail("num_elementwise_dims is supported in ND mode only")
        return [e.value(nn.Gather, data, idx, axis=int(self._params["axis"]))]


class IConstantLayer(ILayer):
    type = LayerType.CONSTANT
    shape = param("shape")
    weights = param("weights")

    def _emit(self, e: _Emitter) -> list[Value]:
        arr = as_array(self._params["weights"])
        shape = tuple(int(d) for d in self._params["shape"])
        if arr is None:
            raise e.fail("has no weights")
        if arr.size != int(np.prod(shape)):
            raise e.fail(f"{arr.size} weight values do not fill shape {list(shape)}")
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        return [e.weight(arr.reshape(shape), "weights")]


class IPaddingLayer(ILayer):
    """Zero padding of the innermost ``len(pre_padding_nd)`` dimensions."""

    type = LayerType.PADDING
    pre_padding_nd = param("pre_padding_nd")
    post_padding_nd = param("post_padding_nd")

    def _emit(self, e: _Emitter) -> list[Value]:
        x = self._input(0)
        rank = self._rank(x)
        pre, post = (tuple(int(v) for v in self._params[k]) for k in ("pre_padding_nd", "post_padding_nd"))
        if len(pre) != len(post) or len(pre) > rank:
            raise e.fail(f"pre {list(pre)} and post {list(post)} paddings must match and fit rank {rank}")
        lead = (0,) * (rank - len(pre))
        pads = e.const(lead + pre + lead + post, np.int64)
        return [e.value(nn.Pad, x, pads, None, None, mode="constant")]


class IResizeLayer(ILayer):
    type = LayerType.RESIZE
    shape = param("shape")
    scales = param("scales")
    resize_mode = param("resize_mode")
    coordinate_transformation = param("coordinate_transformation")
    nearest_rounding = param("nearest_rounding")
    cubic_coeff = param("cubic_coeff")
    exclude_outside = param("exclude_outside")

    def _max_inputs(self) -> int:
        return 2

    def _emit(self, e: _Emitter) -> list[Value]:
        p = self._params
        x = self._input(0)
        mode = {
            InterpolationMode.NEAREST: "nearest",
            InterpolationMode.LINEAR: "linear",
            InterpolationMode.CUBIC: "cubic",
        }[InterpolationMode(p.get("resize_mode", InterpolationMode.NEAREST))]
        ct = {
            ResizeCoordinateTransformation.ALIGN_CORNERS: "align_corners",
            ResizeCoordinateTransformation.ASYMMETRIC: "asymmetric",
            ResizeCoordinateTransformation.HALF_PIXEL: "half_pixel",
        }[
            ResizeCoordinateTransformation(
                p.get("coordinate_transformation", ResizeCoordinateTransformation.ASYMMETRIC)
            )
        ]
        rounding = {
            ResizeRoundMode.HALF_UP: "round_prefer_ceil",
            ResizeRoundMode.HALF_DOWN: "round_prefer_floor",
            ResizeRoundMode.FLOOR: "floor",
            ResizeRoundMode.CEIL: "ceil",
        }[ResizeRoundMode(p.get("nearest_rounding", ResizeRoundMode.FLOOR))]
        shape_in = self._inputs[1] if len(self._inputs) > 1 else None
        scales = sizes = None
        if shape_in is not None:
            sizes = shape_in.value
        elif p.get("shape") is not None:
            sizes = e.const([int(d) for d in p["shape"]], np.int64)
        elif p.get("scales") is not None:
            scales = e.const([float(s) for s in p["scales"]], np.float32)
        else:  # nothing set yet: the identity resize (TensorRT's default output shape is the input's)
            scales = e.const([1.0] * self._rank(x), np.float32)
        return [
            e.value(
                nn.Resize,
                x,
                None,
                scales,
                sizes,
                mode=mode,
                coordinate_transformation_mode=ct,
                nearest_mode=rounding,
                cubic_coeff_a=float(p.get("cubic_coeff", -0.75)),
                exclude_outside=bool(p.get("exclude_outside", False)),
            )
        ]


class IShapeLayer(ILayer):
    type = LayerType.SHAPE

    def _emit(self, e: _Emitter) -> list[Value]:
        return [e.value(nn.Shape, self._input(0))]


class ISqueezeLayer(ILayer):
    type = LayerType.SQUEEZE
    squeeze_op = nn.Squeeze

    def _emit(self, e: _Emitter) -> list[Value]:
        return [e.value(self.squeeze_op, self._input(0), self._input(1, "(axes)"))]


class IUnsqueezeLayer(ISqueezeLayer):
    type = LayerType.UNSQUEEZE
    squeeze_op = nn.Unsqueeze


class ILRNLayer(ILayer):
    type = LayerType.LRN
    window_size = param("window_size")
    alpha = param("alpha")
    beta = param("beta")
    k = param("k")

    def _emit(self, e: _Emitter) -> list[Value]:
        p = self._params
        return [
            e.value(
                nn.LRN,
                self._input(0),
                size=int(p["window_size"]),
                alpha=float(p["alpha"]),
                beta=float(p["beta"]),
                bias=float(p["k"]),
            )
        ]
