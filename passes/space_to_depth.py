"""A strided convolution over few channels (a CNN's RGB stem) as an unpadded stride-1 convolution of
the space-to-depth input, for convert-layout.

ResNet-50's stem (7 x 7, stride 2, 3 channels) reads windows of 3-channel pixels that no
implicit-GEMM tile loads efficiently (6-byte pixels; on an H200 cuDNN took 0.113 ms at batch 32,
a tenth of the whole network). With stride b, output pixel (i, j) reads padded input rows
b * i + r: write r = b * a + p (0 <= p < b), and the window is a ceil(R / b) x ceil(S / b) window of
the space-to-depth image X'[i, j] = (x[b * i + p, b * j + q, c] for p, q, c), with b * b * C' channels
(C padded to C' so that a pixel row is 16-byte aligned). So

    y = conv(x, w, stride b, pads)  ==  conv(s2d(pad(x)), w', stride 1, no pads)

with w'[m, a, a', (p * b + q) * C' + c] = w[m, c, b * a + p, b * a' + q] (zero past R, S or C). The
input change is one pad (channels and borders, NCHW) and one 6-D transpose straight into the
channels-last space-to-depth layout; the convolution is the "valid" form of the TMA conv kernel
(window rows of S' * b * b * C' consecutive elements, no masking).

Finite inputs give the same values (up to the order of the sums). An infinite or NaN input pixel
can reach one more output row or column than before: the taps past R or S have zero weights but
still read pixels, and 0 * inf is NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tritium.ir.core import Value
from tritium.ir.dialects import nn
from tritium.ir.rewriter import Rewriter
from tritium.ir.types import TensorType
from tritium.passes.patterns import int64_constant

MAX_CHANNELS = 4
"""Convolutions over more input channels keep their form (their pixel rows already fill a tile)."""


def plan(op: Any, w: np.ndarray) -> tuple[int, int, int, int, int, int] | None:
    """(b, C', extra bottom rows, extra right columns, H', W') for a stem ``op`` (an ``nn.conv``
    over floats, or an ``nn.conv_integer`` without a weight zero point) with NCHW input and weight
    ``w`` [M, C, R, S], or None where the rewrite does not apply."""
    x_t = op.x.type
    if (
        not isinstance(x_t, TensorType)
        or x_t.shape is None
        or any(not isinstance(d, int) for d in x_t.shape[1:])
    ):
        return None
    _, c, h, wd = x_t.shape
    b = op.strides[0]
    if (
        b < 2
        or list(op.strides) != [b, b]
        or list(op.dilations) != [1, 1]
        or op.group != 1
        or c > MAX_CHANNELS
    ):
        return None
    size = 2 if x_t.dtype.is_float else x_t.dtype.itemsize  # (float convolutions run in f16/bf16)
    if not x_t.dtype.is_float and (size != 1 or getattr(op, "w_zero_point", None) is not None):
        return None
    zx = getattr(op, "x_zero_point", None)
    if zx is not None and getattr(zx.type, "numel", None) != 1:
        return None  # (the padding is one value: the zero point)
    cp = next((k for k in range(c, 17) if (b * b * k * size) % 16 == 0), 0)  # 16-byte pixel rows
    r, s = w.shape[2:]
    if not cp or cp > 2 * c or r < b or s < b:
        return None  # more padding channels than data (stride 3 over RGB: 72 for 27), or a window
        # narrower than the stride (the image would carry b * b times the pixels the window reads)
    pt, pl, pb, pr = op.pads
    hp, wp = h + pt + pb, wd + pl + pr
    eh, ew = -hp % b, -wp % b
    h2, w2 = (hp + eh) // b, (wp + ew) // b
    if h2 - -(-r // b) + 1 != (hp - r) // b + 1 or w2 - -(-s // b) + 1 != (wp - s) // b + 1:
        return None  # the space-to-depth window would give another output size
    return b, cp, eh, ew, h2, w2


def weight(w: np.ndarray, b: int, cp: int) -> np.ndarray:
    """w [M, C, R, S] -> w' [M, R', S', b * b * C'] (channels-last, zeros where w has no tap)."""
    m, c, r, s = w.shape
    r2, s2 = -(-r // b), -(-s // b)
    wz = np.zeros((m, r2 * b, s2 * b, cp), dtype=w.dtype)
    wz[:, :r, :s, :c] = np.transpose(w, (0, 2, 3, 1))
    return np.ascontiguousarray(
        wz.reshape(m, r2, b, s2, b, cp).transpose(0, 1, 3, 2, 4, 5).reshape(m, r2, s2, -1)
    )


def input_nhwc(op: Any, rw: Rewriter, planned: tuple[int, ...], pad_value: Value | None = None) -> Value:
    """The space-to-depth input, channels-last [N, H', W', b * b * C'], built before ``op``; padded
    with ``pad_value`` (an integer convolution's input zero point, its real zero) or 0."""
    b, cp, eh, ew, h2, w2 = planned
    c = op.x.type.shape[1]
    pt, pl, pb, pr = op.pads

    def create(cls: Any, *args: Any, **kw: Any) -> Value:
        return rw.create(cls, *args, loc=op.loc, **kw).results[0]

    x = create(nn.Pad, op.x, int64_constant(rw, op, [0, 0, pt, pl, 0, cp - c, pb + eh, pr + ew]), pad_value)
    x = create(nn.Reshape, x, int64_constant(rw, op, [-1, cp, h2, b, w2, b]))
    x = create(nn.Transpose, x, perm=[0, 2, 4, 3, 5, 1])  # (n, i, j, p, q, c)
    return create(nn.Reshape, x, int64_constant(rw, op, [-1, h2, w2, b * b * cp]))
