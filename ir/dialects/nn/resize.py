"""nn.resize: ONNX Resize (opset 19) — nearest, N-linear and N-cubic interpolation, separable by axis.

Each resized axis is an ``out x in`` weight matrix applied along that axis, so N-linear and N-cubic
are the tensor products of their 1-D kernels, as ONNX defines them. The coordinate of output index
``x`` in the input is computed with ``length_resized = scale * length_original`` (fractional when
a scale is given), ``scale`` being the given scale or ``size / length`` when sizes are given.
"""

from __future__ import annotations

import math

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import BOOL, FLOAT, INTS, one_of
from tritium.ir.dialects.nn.common import norm_axes, ttype
from tritium.ir.dialects.nn.shape import const_ints, vector_len
from tritium.ir.opdef import Op, Pure, attr, operand, opt_operand, result
from tritium.ir.types import Dim, TensorType

MODES = ("nearest", "linear", "cubic")
COORDINATE_MODES = (
    "half_pixel",
    "half_pixel_symmetric",
    "pytorch_half_pixel",
    "align_corners",
    "asymmetric",
    "tf_crop_and_resize",
)
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")
ASPECT_POLICIES = ("stretch", "not_larger", "not_smaller")


def cubic_kernel(d: np.ndarray, a: float) -> np.ndarray:
    """Keys' cubic convolution kernel at distances ``d`` (coefficient ``a``)."""
    d = np.abs(d)
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


class Resize(Op):
    """Resize ``x`` along ``axes`` (default: all) to ``sizes``, or by ``scales`` (output length
    ``floor(length * scale)``); exactly one of the two is given. ``roi`` ([starts..., ends...],
    normalized) only matters for ``tf_crop_and_resize``."""

    name = "nn.resize"
    traits = (Pure,)
    x = operand()
    roi = opt_operand(D.FLOATS)
    scales = opt_operand([D.f32])
    sizes = opt_operand([D.i64])
    out = result()
    mode = attr(one_of(*MODES), default="nearest")
    coordinate_transformation_mode = attr(one_of(*COORDINATE_MODES), default="half_pixel")
    nearest_mode = attr(one_of(*NEAREST_MODES), default="round_prefer_floor")
    cubic_coeff_a = attr(FLOAT, default=-0.75)
    exclude_outside = attr(BOOL, default=False)
    extrapolation_value = attr(FLOAT, default=0.0)
    antialias = attr(BOOL, default=False)
    keep_aspect_ratio_policy = attr(one_of(*ASPECT_POLICIES), default="stretch")
    axes = attr(INTS, default=None)

    # -- types -----------------------------------------------------------------------------------------
    def verify_op(self) -> None:
        if (self.scales is None) == (self.sizes is None):
            self.fail("needs exactly one of scales and sizes")
        x = ttype(self, self.x, "x")
        if x.shape is None:
            return
        n = len(self._axes(len(x.shape)))
        for v, what, want in ((self.scales, "scales", n), (self.sizes, "sizes", n), (self.roi, "roi", 2 * n)):
            if v is not None:
                got = vector_len(self, v, what)
                if got is not None and got != want:
                    self.fail(f"{what} has {got} values, expected {want}")

    def _axes(self, rank: int) -> list[int]:
        return list(range(rank)) if self.axes is None else list(norm_axes(self, self.axes, rank))

    def infer(self) -> TensorType:
        x = ttype(self, self.x, "x")
        if x.shape is None:
            return x
        axes = self._axes(len(x.shape))
        out: list[Dim] = list(x.shape)
        for a in axes:
            out[a] = None
        dims = [x.shape[a] for a in axes]
        if self.sizes is not None:
            sizes = const_ints(self, self.sizes)
            if sizes is not None:
                if self.keep_aspect_ratio_policy == "stretch":
                    for a, s in zip(axes, sizes):
                        out[a] = s
                elif all(isinstance(d, int) and d > 0 for d in dims):
                    for a, s in zip(axes, self.output_sizes(dims, sizes, None)[1]):  # type: ignore[arg-type]
                        out[a] = s
        elif self.scales is not None:
            c = self.const(self.scales)
            if c is not None:
                for a, d, s in zip(axes, dims, c.reshape(-1)):
                    if s <= 0:
                        self.fail(f"scales must be positive, found {s}")
                    if isinstance(d, int):
                        out[a] = math.floor(d * float(s))
        return TensorType(tuple(out), x.dtype)

    def output_sizes(
        self, dims: list[int], sizes: list[int] | None, scales: list[float] | None
    ) -> tuple[list[float], list[int]]:
        """(scale, output length) for each resized axis."""
        if sizes is None:
            assert scales is not None
            return scales, [math.floor(d * s) for d, s in zip(dims, scales)]
        ratios = [s / d for s, d in zip(sizes, dims)]
        policy = self.keep_aspect_ratio_policy
        if policy == "stretch":
            return ratios, list(sizes)
        r = min(ratios) if policy == "not_larger" else max(ratios)
        return [r] * len(dims), [math.floor(d * r + 0.5) for d in dims]

    # -- semantics -------------------------------------------------------------------------------------
    def coordinates(self, n_in: int, n_out: int, scale: float, start: float, end: float) -> np.ndarray:
        """The input coordinate of each output index along one axis."""
        x = np.arange(n_out, dtype=np.float64)
        length = scale * n_in  # length_resized; fractional when computed from a scale
        mode = self.coordinate_transformation_mode
        if mode == "half_pixel":
            return (x + 0.5) / scale - 0.5
        if mode == "half_pixel_symmetric":
            offset = n_in / 2 * (1 - n_out / length)
            return offset + (x + 0.5) / scale - 0.5
        if mode == "pytorch_half_pixel":
            return (x + 0.5) / scale - 0.5 if length > 1 else np.zeros(n_out)
        if mode == "align_corners":
            return x * (n_in - 1) / (length - 1) if length != 1 else np.zeros(n_out)
        if mode == "asymmetric":
            return x / scale
        if length > 1:  # tf_crop_and_resize
            return start * (n_in - 1) + x * (end - start) * (n_in - 1) / (length - 1)
        return np.full(n_out, 0.5 * (start + end) * (n_in - 1))

    def weights(self, n_in: int, coords: np.ndarray, scale: float) -> np.ndarray:
        """The ``len(coords) x n_in`` interpolation matrix along one axis (edge values past the ends)."""
        w = np.zeros((coords.size, n_in))
        rows = np.arange(coords.size)
        if self.mode == "nearest":
            m = self.nearest_mode
            if m == "round_prefer_floor":
                idx = np.ceil(coords - 0.5)
            elif m == "round_prefer_ceil":
                idx = np.floor(coords + 0.5)
            else:
                idx = np.floor(coords) if m == "floor" else np.ceil(coords)
            w[rows, np.clip(idx.astype(np.int64), 0, n_in - 1)] = 1.0
            return w
        support = 1.0 if self.mode == "linear" else 2.0
        stretch = 1.0 / scale if self.antialias and scale < 1 else 1.0
        reach = math.ceil(support * stretch) + 1
        base = np.floor(coords).astype(np.int64)
        points = base[:, None] + np.arange(-reach + 1, reach + 1)[None, :]
        dist = (coords[:, None] - points) / stretch
        if self.mode == "linear":
            k = np.clip(1 - np.abs(dist), 0, None)
        else:
            k = cubic_kernel(dist, self.cubic_coeff_a)
        if self.mode == "cubic" and not self.antialias:
            k = np.where(np.abs(dist) < 2, k, 0.0)
        if self.antialias:
            k = k / k.sum(axis=1, keepdims=True)
        if self.exclude_outside:
            k = np.where((points < 0) | (points >= n_in), 0.0, k)
            k = k / k.sum(axis=1, keepdims=True)
        np.add.at(w, (np.broadcast_to(rows[:, None], points.shape), np.clip(points, 0, n_in - 1)), k)
        return w

    def reference(self, x, roi, scales, sizes) -> np.ndarray:  # type: ignore[no-untyped-def]
        axes = self._axes(x.ndim)
        dims = [x.shape[a] for a in axes]
        given_sizes = None if sizes is None else [int(s) for s in sizes.reshape(-1)]
        given_scales = None if scales is None else [float(s) for s in scales.reshape(-1)]
        if given_scales is not None and any(s <= 0 for s in given_scales):
            raise ValueError(f"scales must be positive, found {given_scales}")
        scale, out_len = self.output_sizes(dims, given_sizes, given_scales)
        n = len(axes)
        r = [0.0] * n + [1.0] * n if roi is None else [float(v) for v in roi.reshape(-1)]
        y = x.astype(np.float64)
        outside = np.zeros((), bool)
        for i, a in enumerate(axes):
            coords = self.coordinates(dims[i], out_len[i], scale[i], r[i], r[n + i])
            w = self.weights(dims[i], coords, scale[i])
            y = np.moveaxis(np.tensordot(w, np.moveaxis(y, a, 0), axes=(1, 0)), 0, a)
            if self.coordinate_transformation_mode == "tf_crop_and_resize":
                bad = (coords < 0) | (coords > dims[i] - 1)
                shape = [1] * x.ndim
                shape[a] = out_len[i]
                outside = outside | bad.reshape(shape)
        y = np.where(outside, self.extrapolation_value, y)
        dt = self.results[0].type.dtype.np_dtype  # type: ignore[attr-defined]
        if np.issubdtype(dt, np.integer):
            info = np.iinfo(dt)
            y = np.clip(np.rint(y), info.min, info.max)
        return np.asarray(y.astype(dt))
