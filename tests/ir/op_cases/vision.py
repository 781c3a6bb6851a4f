"""Cases for the vision layers (RoI pooling, grid sampling, non-maximum suppression): plain-loop numpy
oracles written from the ONNX definitions."""

from __future__ import annotations

import itertools

import numpy as np
import torch.nn.functional as F

from tests.ir.op_cases.base import N, OpCase, T
from tests.ir.op_cases.layers import case, f32, shapes

# -- vision layers ---------------------------------------------------------------------------------------


def roi_align_oracle(x, rois, idx, oh=3, ow=2, ratio=0, scale=0.5, half=False, mode="max"):  # type: ignore[no-untyped-def]
    """Plain-loop RoiAlign: bilinear samples (zero beyond one pixel outside, else clamped)."""
    _, c, h, w = x.shape
    out = np.zeros((len(rois), c, oh, ow))
    for r in range(len(rois)):
        img = x[int(idx[r])].astype(np.float64)
        x1, y1, x2, y2 = rois[r].astype(np.float64) * scale - (0.5 if half else 0.0)
        rw, rh = (x2 - x1, y2 - y1) if half else (max(x2 - x1, 1.0), max(y2 - y1, 1.0))
        gh = ratio or int(np.ceil(rh / oh))
        gw = ratio or int(np.ceil(rw / ow))
        for ph, pw in itertools.product(range(oh), range(ow)):
            terms = []
            for iy, ix in itertools.product(range(gh), range(gw)):
                y = y1 + ph * rh / oh + (iy + 0.5) * rh / oh / gh
                xx = x1 + pw * rw / ow + (ix + 0.5) * rw / ow / gw
                if y < -1 or y > h or xx < -1 or xx > w:
                    terms.append(np.zeros((4, c)))
                    continue
                y, xx = max(y, 0.0), max(xx, 0.0)
                y0, x0 = min(int(y), h - 1), min(int(xx), w - 1)
                y1_, x1_ = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
                ly = 0.0 if y0 == h - 1 else y - y0
                lx = 0.0 if x0 == w - 1 else xx - x0
                corners = [
                    (y0, x0, (1 - ly) * (1 - lx)),
                    (y0, x1_, (1 - ly) * lx),
                    (y1_, x0, ly * (1 - lx)),
                    (y1_, x1_, ly * lx),
                ]
                terms.append(np.stack([wt * img[:, a, b] for a, b, wt in corners]))
            t = np.stack(terms)  # samples, 4, C
            out[r, :, ph, pw] = t.sum(axis=(0, 1)) / (gh * gw) if mode == "avg" else t.max(axis=(0, 1))
    return [out.astype(f32)]


def roi_inputs(g: np.random.Generator) -> list[np.ndarray]:
    lo = g.uniform(-3, 10, (4, 2))
    rois = np.concatenate([lo, lo + g.uniform(0.5, 8, (4, 2))], 1).astype(f32)
    return [g.standard_normal((2, 3, 8, 8)).astype(f32), rois, np.array([0, 1, 1, 0], np.int64)]


def max_roi_oracle(x, rois, ph=2, pw=3, scale=0.5):  # type: ignore[no-untyped-def]
    out = np.zeros((len(rois), x.shape[1], ph, pw), f32)
    h, w = x.shape[2:]
    for r, roi in enumerate(rois):
        x1, y1, x2, y2 = (int(np.floor(abs(v) * scale + 0.5) * np.sign(v)) for v in roi[1:])
        bh, bw = max(y2 - y1 + 1, 1) / ph, max(x2 - x1 + 1, 1) / pw
        for i, j in itertools.product(range(ph), range(pw)):
            hs, he = np.clip([int(np.floor(i * bh)) + y1, int(np.ceil((i + 1) * bh)) + y1], 0, h)
            ws, we = np.clip([int(np.floor(j * bw)) + x1, int(np.ceil((j + 1) * bw)) + x1], 0, w)
            if he > hs and we > ws:
                out[r, :, i, j] = x[int(roi[0]), :, hs:he, ws:we].max(axis=(1, 2))
    return [out]


def nms_oracle(boxes, scores, limit, iou_t, score_t):  # type: ignore[no-untyped-def]
    def iou(a: np.ndarray, b: np.ndarray) -> float:
        ay1, ay2, ax1, ax2 = min(a[0], a[2]), max(a[0], a[2]), min(a[1], a[3]), max(a[1], a[3])
        by1, by2, bx1, bx2 = min(b[0], b[2]), max(b[0], b[2]), min(b[1], b[3]), max(b[1], b[3])
        inter = max(min(ay2, by2) - max(ay1, by1), 0) * max(min(ax2, bx2) - max(ax1, bx1), 0)
        union = (ay2 - ay1) * (ax2 - ax1) + (by2 - by1) * (bx2 - bx1) - inter
        return inter / union if union > 0 else 0.0

    rows = []
    for b, k in itertools.product(range(boxes.shape[0]), range(scores.shape[1])):
        cand = sorted(
            (i for i in range(boxes.shape[1]) if scores[b, k, i] >= score_t[0]),
            key=lambda i: (-scores[b, k, i], i),
        )
        kept: list[int] = []
        for i in cand:
            if len(kept) < limit[0] and all(iou(boxes[b, i], boxes[b, j]) <= iou_t[0] for j in kept):
                kept.append(i)
        rows += [[b, k, i] for i in kept]
    return [np.array(rows, np.int64).reshape(-1, 3)]


def nms_inputs(g: np.random.Generator) -> list[np.ndarray]:
    centers, sizes = g.uniform(0, 4, (2, 8, 2)), g.uniform(1, 3, (2, 8, 2))
    boxes = np.concatenate([centers - sizes / 2, centers + sizes / 2], -1)
    boxes[:, ::3] = boxes[:, ::3][..., [2, 3, 0, 1]]  # some boxes give the other diagonal
    return [
        boxes.astype(f32),
        g.uniform(0, 1, (2, 2, 8)).astype(f32),
        np.array([3], np.int64),
        np.array([0.3], f32),
        np.array([0.2], f32),
    ]


def grid_case(x_shape: str, g_shape: str, mode: str, pad: str, align: bool) -> OpCase:
    xs, gs = shapes(f"x:{x_shape}xf32 g:{g_shape}xf32")
    out = "x".join(map(str, (xs[0], xs[1], *gs[1:-1])))
    torch_mode = {"linear": "bilinear", "cubic": "bicubic"}.get(mode, mode)
    return case(
        "nn.grid_sample",
        f"x:{x_shape}xf32 g:{g_shape}xf32",
        f"{out}xf32",
        f'align_corners = {str(align).lower()}, mode = "{mode}", padding_mode = "{pad}"',
        lambda x, grid: [N(F.grid_sample(T(x), T(grid), torch_mode, pad, align))],
        lambda g: [g.standard_normal(xs).astype(f32), g.uniform(-1.3, 1.3, gs).astype(f32)],
    )


def affine_case(size: tuple[int, ...], align: bool) -> OpCase:
    r = len(size) - 2
    out = "x".join(map(str, (size[0], *size[2:], r)))
    return case(
        "nn.affine_grid",
        f"t:{size[0]}x{r}x{r + 1}xf32 =s:{len(size)}xi64",
        f"{out}xf32",
        f"align_corners = {str(align).lower()}",
        lambda t: [N(F.affine_grid(T(t), list(size), align_corners=align))],
        pre=f"  %s = nn.constant dense<{list(size)}> : tensor<{len(size)}xi64>\n",
        ops=("nn.constant",),
    )


ROI = "x:2x3x8x8xf32 rois:4x4xf32 i:4xi64"
VISION = {
    "nn.roi_align": [
        case(
            "nn.roi_align",
            ROI,
            "4x3x3x2xf32",
            'coordinate_transformation_mode = "output_half_pixel", mode = "max", output_height = 3,'
            " output_width = 2, sampling_ratio = 0, spatial_scale = 0.5",
            roi_align_oracle,
            roi_inputs,
        ),
        case(
            "nn.roi_align",
            ROI,
            "4x3x3x2xf32",
            'mode = "avg", output_height = 3, output_width = 2, sampling_ratio = 2, spatial_scale = 0.5',
            lambda x, rois, i: roi_align_oracle(x, rois, i, ratio=2, half=True, mode="avg"),
            roi_inputs,
        ),
    ],
    "nn.max_roi_pool": [
        case(
            "nn.max_roi_pool",
            "x:2x3x8x8xf32 rois:3x5xf32",
            "3x3x2x3xf32",
            "pooled_shape = [2, 3], spatial_scale = 0.5",
            max_roi_oracle,
            lambda g: [
                g.standard_normal((2, 3, 8, 8)).astype(f32),
                np.array([[0, 1, 2, 9, 13], [1, -3, 0, 6, 5], [1, 4, 4, 4.6, 7]], f32),
            ],
        )
    ],
    "nn.grid_sample": [
        grid_case("1x2x4x5", "1x3x4x2", "linear", "reflection", False),
        grid_case("2x2x5x4", "2x3x3x2", "cubic", "border", True),
        grid_case("2x2x5x4", "2x3x3x2", "cubic", "zeros", False),
        grid_case("1x2x3x4x5", "1x2x2x3x3", "nearest", "zeros", False),
        grid_case("1x2x3x4x5", "1x2x2x3x3", "linear", "border", True),
    ],
    "nn.affine_grid": [affine_case((2, 3, 4, 5), False), affine_case((1, 1, 2, 3, 4), True)],
    "nn.non_max_suppression": [
        case(
            "nn.non_max_suppression",
            "boxes:2x8x4xf32 scores:2x2x8xf32 m:1xi64 iou:1xf32 st:1xf32",
            "?x3xi64",
            "center_point_box = 0",
            nms_oracle,
            nms_inputs,
            rtol=0,
        )
    ],
}

CASES: dict[str, list[OpCase]] = {**VISION}
