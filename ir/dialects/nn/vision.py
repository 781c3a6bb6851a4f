"""Vision layers: RoI pooling (RoiAlign, MaxRoiPool), sampling grids (GridSample, AffineGrid) and
non-maximum suppression."""

from __future__ import annotations

import itertools

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import BOOL, FLOAT, INT, INTS, one_of
from tritium.ir.dialects.nn.common import as_dtype, ttype
from tritium.ir.opdef import Op, Pure, attr, operand, opt_operand, result
from tritium.ir.types import TensorType


def check_rank(op: Op, what: str, t: TensorType, rank: int) -> None:
    if t.shape is not None and len(t.shape) != rank:
        op.fail(f"{what} must have rank {rank}, found {t}")


def c_round(v: np.ndarray | float) -> np.ndarray:
    """Round half away from zero."""
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


class RoiAlign(Op):
    """Average (or max) of bilinear samples in each of ``output_height x output_width`` bins of each RoI
    ``[x1, y1, x2, y2] * spatial_scale`` (shifted by -0.5 with ``half_pixel``; with
    ``output_half_pixel`` a RoI is at least 1x1). ``sampling_ratio`` samples per bin side, or
    ``ceil(roi_size / output_size)`` when 0. Samples beyond one pixel outside the map are zero; the
    others are clamped to it. ``max`` takes, per bin, the largest weighted corner term of any sample
    (the established RoiAlign-max definition)."""

    name = "nn.roi_align"
    traits = (Pure,)
    x = operand(D.FLOATS)
    rois = operand(D.FLOATS)
    batch_indices = operand([D.i64])
    out = result()
    coordinate_transformation_mode = attr(one_of("half_pixel", "output_half_pixel"), default="half_pixel")
    mode = attr(one_of("avg", "max"), default="avg")
    output_height = attr(INT, default=1)
    output_width = attr(INT, default=1)
    sampling_ratio = attr(INT, default=0)
    spatial_scale = attr(FLOAT, default=1.0)

    def verify_op(self) -> None:
        x, rois, bi = (
            ttype(self, self.x, "x"),
            ttype(self, self.rois, "rois"),
            ttype(self, self.batch_indices),
        )
        check_rank(self, "x", x, 4)
        check_rank(self, "rois", rois, 2)
        check_rank(self, "batch_indices", bi, 1)
        if rois.shape is not None and rois.shape[1] not in (4, None):
            self.fail(f"rois must be (num_rois, 4), found {rois}")
        if self.output_height < 1 or self.output_width < 1 or self.sampling_ratio < 0:
            self.fail("output_height and output_width must be positive, sampling_ratio non-negative")

    def infer(self) -> TensorType:
        x, rois = ttype(self, self.x, "x"), ttype(self, self.rois, "rois")
        r = rois.shape[0] if rois.shape is not None else None
        c = x.shape[1] if x.shape is not None else None
        return TensorType((r, c, self.output_height, self.output_width), x.dtype)

    def axis_samples(self, start: float, size: float, bins: int, extent: int) -> tuple:
        """Per bin and sample along one axis: low/high indices, their weights, and validity."""
        grid = max(self.sampling_ratio or int(np.ceil(size / bins)), 0)  # an empty RoI has no samples
        step = size / bins
        p = start + np.arange(bins)[:, None] * step + (np.arange(grid)[None, :] + 0.5) * step / grid
        valid = (p >= -1.0) & (p <= extent)
        p = np.maximum(p, 0.0)
        low = np.floor(p).astype(np.int64)
        edge = low >= extent - 1
        low = np.where(edge, extent - 1, low)
        high = np.where(edge, extent - 1, low + 1)
        frac = np.where(edge, 0.0, p - low)
        return low, high, 1.0 - frac, frac, valid, grid

    def reference(self, x: np.ndarray, rois: np.ndarray, batch_indices: np.ndarray) -> np.ndarray:
        _, c, h, w = x.shape
        oh, ow = self.output_height, self.output_width
        out = np.zeros((rois.shape[0], c, oh, ow))
        shift = 0.5 if self.coordinate_transformation_mode == "half_pixel" else 0.0
        x64 = x.astype(np.float64)
        for r, roi in enumerate(rois.astype(np.float64)):
            x1, y1, x2, y2 = roi * self.spatial_scale - shift
            rw, rh = x2 - x1, y2 - y1
            if shift == 0.0:
                rw, rh = max(rw, 1.0), max(rh, 1.0)
            ylo, yhi, wyl, wyh, vy, gy = self.axis_samples(y1, rh, oh, h)
            xlo, xhi, wxl, wxh, vx, gx = self.axis_samples(x1, rw, ow, w)
            img = x64[int(batch_indices[r])]  # (C, H, W)
            terms = []
            for yi, wy in ((ylo, wyl), (yhi, wyh)):
                for xi, wx in ((xlo, wxl), (xhi, wxh)):
                    wt = (wy * vy)[:, :, None, None] * (wx * vx)[None, None, :, :]  # (oh, gy, ow, gx)
                    vals = img[:, yi.reshape(-1)][:, :, xi.reshape(-1)].reshape(c, oh, gy, ow, gx)
                    terms.append(vals * wt)
            if gy * gx == 0:
                continue
            if self.mode == "avg":
                out[r] = sum(terms).sum(axis=(2, 4)) / (gy * gx)
            else:
                out[r] = np.maximum.reduce(terms).max(axis=(2, 4))
        return as_dtype(out, self.results[0].type)  # type: ignore[arg-type]


class MaxRoiPool(Op):
    """Max over each of ``pooled_shape`` bins of each RoI ``[batch, x1, y1, x2, y2]`` (coordinates
    scaled by ``spatial_scale`` and rounded; bins are ``floor``/``ceil`` of equal splits); empty bins
    are zero."""

    name = "nn.max_roi_pool"
    traits = (Pure,)
    x = operand(D.FLOATS)
    rois = operand(D.FLOATS)
    out = result()
    pooled_shape = attr(INTS)
    spatial_scale = attr(FLOAT, default=1.0)

    def verify_op(self) -> None:
        x, rois = ttype(self, self.x, "x"), ttype(self, self.rois, "rois")
        check_rank(self, "x", x, 4)
        check_rank(self, "rois", rois, 2)
        if rois.shape is not None and rois.shape[1] not in (5, None):
            self.fail(f"rois must be (num_rois, 5), found {rois}")
        if len(self.pooled_shape) != 2 or min(self.pooled_shape) < 1:
            self.fail(f"pooled_shape must be two positive sizes, found {list(self.pooled_shape)}")

    def infer(self) -> TensorType:
        x, rois = ttype(self, self.x, "x"), ttype(self, self.rois, "rois")
        r = rois.shape[0] if rois.shape is not None else None
        c = x.shape[1] if x.shape is not None else None
        return TensorType((r, c, *self.pooled_shape), x.dtype)

    def reference(self, x: np.ndarray, rois: np.ndarray) -> np.ndarray:
        _, c, h, w = x.shape
        ph, pw = self.pooled_shape
        out = np.zeros((rois.shape[0], c, ph, pw), x.dtype)
        for r, roi in enumerate(rois.astype(np.float64)):
            b = int(roi[0])
            x1, y1, x2, y2 = (int(v) for v in c_round(roi[1:] * self.spatial_scale))
            bh, bw = max(y2 - y1 + 1, 1) / ph, max(x2 - x1 + 1, 1) / pw
            for i, j in itertools.product(range(ph), range(pw)):
                hs = min(max(int(np.floor(i * bh)) + y1, 0), h)
                he = min(max(int(np.ceil((i + 1) * bh)) + y1, 0), h)
                ws = min(max(int(np.floor(j * bw)) + x1, 0), w)
                we = min(max(int(np.ceil((j + 1) * bw)) + x1, 0), w)
                if he > hs and we > ws:
                    out[r, :, i, j] = x[b, :, hs:he, ws:we].max(axis=(1, 2))
        return out


def reflect(p: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Reflect coordinates into [lo, hi] (repeatedly, off both borders)."""
    span = hi - lo
    if span <= 0:
        return np.full_like(p, lo)
    d = np.abs(p - lo)
    flips = np.floor(d / span)
    extra = d - flips * span
    return np.where(flips % 2 == 0, lo + extra, hi - extra)


def cubic_weights(t: np.ndarray) -> list[np.ndarray]:
    """Cubic convolution weights (A = -0.75) of the taps at offsets -1, 0, 1, 2 from floor(p)."""
    a = -0.75

    def near(v: np.ndarray) -> np.ndarray:
        return ((a + 2) * v - (a + 3)) * v * v + 1

    def far(v: np.ndarray) -> np.ndarray:
        return ((a * v - 5 * a) * v + 8 * a) * v - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


class GridSample(Op):
    """Sample ``x`` (N, C, *in) at the normalized positions of ``grid`` (N, *out, r), whose last axis
    lists coordinates innermost axis first. ``align_corners``: -1 and 1 are the centers (else the
    outer edges) of the corner pixels. ``padding_mode`` zeros / border (clamp) / reflection;
    ``mode`` nearest (ties to even) / linear / cubic (A = -0.75, padding applied to each tap)."""

    name = "nn.grid_sample"
    traits = (Pure,)
    x = operand(D.NUMERIC)
    grid = operand(D.FLOATS)
    out = result()
    align_corners = attr(BOOL, default=False)
    mode = attr(one_of("linear", "nearest", "cubic"), default="linear")
    padding_mode = attr(one_of("zeros", "border", "reflection"), default="zeros")

    def verify_op(self) -> None:
        x, g = ttype(self, self.x, "x"), ttype(self, self.grid, "grid")
        if x.shape is not None and len(x.shape) < 3:
            self.fail(f"x must have rank >= 3 (N, C, D1, ...), found {x}")
        if x.shape is not None and g.shape is not None:
            r = len(x.shape) - 2
            if len(g.shape) != r + 2 or g.shape[-1] not in (r, None):
                self.fail(f"grid must be (N, D1_out, ..., {r}) for input {x}, found {g}")

    def infer(self) -> TensorType:
        x, g = ttype(self, self.x, "x"), ttype(self, self.grid, "grid")
        c = x.shape[1] if x.shape is not None else None
        if g.shape is None:
            return TensorType(None if x.shape is None else (None, c, *([None] * (len(x.shape) - 2))), x.dtype)
        return TensorType((g.shape[0], c, *g.shape[1:-1]), x.dtype)

    def coords(self, g: np.ndarray, size: int) -> np.ndarray:
        if self.align_corners:
            return (g + 1.0) / 2.0 * (size - 1)
        return ((g + 1.0) * size - 1.0) / 2.0

    def pad_coords(self, p: np.ndarray, size: int) -> np.ndarray:
        if self.padding_mode == "border":
            return np.clip(p, 0, size - 1)
        if self.padding_mode == "reflection":
            lo, hi = (0.0, size - 1.0) if self.align_corners else (-0.5, size - 0.5)
            return np.clip(reflect(p, lo, hi), 0, size - 1)
        return p

    def reference(self, x: np.ndarray, grid: np.ndarray) -> np.ndarray:
        n, c = x.shape[:2]
        spatial = x.shape[2:]
        r = len(spatial)
        out_sp = grid.shape[1:-1]
        flat = x.astype(np.float64).reshape(n, c, -1)
        g = grid.astype(np.float64).reshape(n, -1, r)
        pos = [self.coords(g[:, :, r - 1 - i], spatial[i]) for i in range(r)]  # per axis, outermost first
        if self.mode == "cubic":
            taps = []
            for i in range(r):
                lo = np.floor(pos[i])
                ws = cubic_weights(pos[i] - lo)
                taps.append([(self.pad_coords(lo + k - 1, spatial[i]), ws[k]) for k in range(4)])
        else:
            pos = [self.pad_coords(p, spatial[i]) for i, p in enumerate(pos)]
            if self.mode == "nearest":
                taps = [[(np.rint(p), np.ones_like(p))] for p in pos]
            else:
                taps = [
                    [(np.floor(p), 1.0 - (p - np.floor(p))), (np.floor(p) + 1, p - np.floor(p))] for p in pos
                ]
        total = np.zeros((n, c, g.shape[1]))
        for combo in itertools.product(*taps):
            weight = np.ones(g.shape[:2])
            index = np.zeros(g.shape[:2], np.int64)
            valid = np.ones(g.shape[:2], bool)
            for i, (idx, wt) in enumerate(combo):
                idx = idx.astype(np.int64)
                valid &= (idx >= 0) & (idx < spatial[i])
                weight = weight * wt
                index = index * spatial[i] + np.clip(idx, 0, spatial[i] - 1)
            vals = np.take_along_axis(flat, index[:, None, :], axis=2)
            total += vals * (weight * valid)[:, None, :]
        return as_dtype(total.reshape(n, c, *out_sp), self.results[0].type)  # type: ignore[arg-type]


class AffineGrid(Op):
    """``grid[n, ..., :] = theta[n] @ [x, y, (z,) 1]`` over an even grid of positions in [-1, 1] for
    ``size`` (N, C, H, W) or (N, C, D, H, W); positions are pixel centers (``align_corners``: the
    extremes are the corner pixels' centers)."""

    name = "nn.affine_grid"
    traits = (Pure,)
    theta = operand(D.FLOATS)
    size = operand([D.i64])
    out = result()
    align_corners = attr(BOOL, default=False)

    def verify_op(self) -> None:
        t = ttype(self, self.theta, "theta")
        if t.shape is not None and (len(t.shape) != 3 or (t.shape[1], t.shape[2]) not in ((2, 3), (3, 4))):
            if not (len(t.shape) == 3 and (t.shape[1] is None or t.shape[2] is None)):
                self.fail(f"theta must be (N, 2, 3) or (N, 3, 4), found {t}")

    def infer(self) -> TensorType:
        t = ttype(self, self.theta, "theta")
        size = self.const(self.size)
        if size is not None:
            dims = [int(v) for v in size.reshape(-1)]
            if len(dims) not in (4, 5):
                self.fail(f"size must have 4 or 5 values, found {dims}")
            return TensorType((dims[0], *dims[2:], len(dims) - 2), t.dtype)
        r = t.shape[1] if t.shape is not None else None
        n = t.shape[0] if t.shape is not None else None
        if not isinstance(r, int):
            return TensorType(None, t.dtype)
        return TensorType((n, *([None] * r), r), t.dtype)

    def axis(self, s: int) -> np.ndarray:
        if self.align_corners:
            return np.linspace(-1.0, 1.0, s) if s > 1 else np.zeros(s)
        return (2.0 * np.arange(s) + 1.0) / s - 1.0

    def reference(self, theta: np.ndarray, size: np.ndarray) -> np.ndarray:
        dims = [int(v) for v in size.reshape(-1)]
        spatial = dims[2:]
        r = len(spatial)
        axes = [self.axis(s) for s in spatial]  # outermost first: (D,) H, W
        mesh = np.meshgrid(*axes, indexing="ij")
        base = np.stack([*reversed(mesh), np.ones(spatial)], axis=-1).reshape(-1, r + 1)  # x, y, (z), 1
        grid = np.einsum("pk,njk->npj", base, theta.astype(np.float64))
        return as_dtype(grid.reshape(dims[0], *spatial, r), self.results[0].type)  # type: ignore[arg-type]


class NonMaxSuppression(Op):
    """Per batch and class, greedily keep the highest-scoring boxes (score >= ``score_threshold`` when
    given; ties by lower index) whose IoU with every kept box is at most ``iou_threshold``, up to
    ``max_output_boxes_per_class`` (0 or absent: none). Boxes are ``[y1, x1, y2, x2]`` (any diagonal
    corners) or, with ``center_point_box``, ``[x_center, y_center, width, height]``. Output rows are
    ``[batch, class, box]``."""

    name = "nn.non_max_suppression"
    traits = (Pure,)
    boxes = operand([D.f32])
    scores = operand([D.f32])
    max_output_boxes_per_class = opt_operand([D.i64])
    iou_threshold = opt_operand([D.f32])
    score_threshold = opt_operand([D.f32])
    out = result()
    center_point_box = attr(INT, default=0)

    def verify_op(self) -> None:
        b, s = ttype(self, self.boxes, "boxes"), ttype(self, self.scores, "scores")
        check_rank(self, "boxes", b, 3)
        check_rank(self, "scores", s, 3)
        if b.shape is not None and b.shape[2] not in (4, None):
            self.fail(f"boxes must be (batches, boxes, 4), found {b}")
        if self.center_point_box not in (0, 1):
            self.fail(f"center_point_box must be 0 or 1, found {self.center_point_box}")

    def infer(self) -> TensorType:
        return TensorType((None, 3), D.i64)

    def corners(self, b: np.ndarray) -> tuple[np.ndarray, ...]:
        b = b.astype(np.float64)
        if self.center_point_box:
            xc, yc, w, h = b.T
            return yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2
        return (
            np.minimum(b[:, 0], b[:, 2]),
            np.minimum(b[:, 1], b[:, 3]),
            np.maximum(b[:, 0], b[:, 2]),
            np.maximum(b[:, 1], b[:, 3]),
        )

    def reference(self, boxes, scores, max_output_boxes_per_class, iou_threshold, score_threshold):  # type: ignore[no-untyped-def]
        limit = (
            0
            if max_output_boxes_per_class is None
            else int(np.asarray(max_output_boxes_per_class).reshape(-1)[0])
        )
        iou_t = 0.0 if iou_threshold is None else float(np.asarray(iou_threshold).reshape(-1)[0])
        rows: list[tuple[int, int, int]] = []
        for b in range(boxes.shape[0]):
            y1, x1, y2, x2 = self.corners(boxes[b])
            area = (y2 - y1) * (x2 - x1)
            for k in range(scores.shape[1]):
                sc = scores[b, k].astype(np.float64)
                order = np.argsort(-sc, kind="stable")
                if score_threshold is not None:
                    order = order[sc[order] >= float(np.asarray(score_threshold).reshape(-1)[0])]
                kept: list[int] = []
                for i in order:
                    if len(kept) >= limit:
                        break
                    if kept:
                        kk = np.asarray(kept)
                        ih = np.maximum(np.minimum(y2[i], y2[kk]) - np.maximum(y1[i], y1[kk]), 0.0)
                        iw = np.maximum(np.minimum(x2[i], x2[kk]) - np.maximum(x1[i], x1[kk]), 0.0)
                        inter = ih * iw
                        union = area[i] + area[kk] - inter
                        iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
                        if np.any(iou > iou_t):
                            continue
                    kept.append(int(i))
                rows.extend((b, k, i) for i in kept)
        return np.asarray(rows, np.int64).reshape(-1, 3)
