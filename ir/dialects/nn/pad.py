"""Padding, cropping and moving blocks of pixels: pad (constant/reflect/edge/wrap), center_crop_pad,
col2im, depth_to_space, space_to_depth."""

from __future__ import annotations

import itertools

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import INT, INTS, one_of
from tritium.ir.dialects.nn.common import as_dtype, norm_axes, ttype
from tritium.ir.dialects.nn.shape import IDX, const_ints, prod_dim, unknown_dims, vector_len
from tritium.ir.opdef import Op, Pure, attr, operand, opt_operand, result
from tritium.ir.types import Dim, TensorType

_NP_MODE = {"constant": "constant", "reflect": "reflect", "edge": "edge", "wrap": "wrap"}


def _add(d: Dim, n: int) -> Dim:
    if n == 0:
        return d
    return d + n if isinstance(d, int) else None


class Pad(Op):
    """Pad ``x`` by ``pads = [begin_0, ..., begin_n, end_0, ..., end_n]`` along ``axes`` (default: all
    axes). Negative pads remove elements. ``constant`` mode fills with ``constant_value`` (default 0);
    ``reflect`` mirrors without repeating the edge, ``edge`` repeats it, ``wrap`` continues periodically."""

    name = "nn.pad"
    traits = (Pure,)
    x = operand()
    pads = operand([D.i64])
    constant_value = opt_operand()
    axes = opt_operand(IDX)
    out = result()
    mode = attr(one_of("constant", "reflect", "edge", "wrap"), default="constant")

    def _axes(self, rank: int) -> list[int] | None:
        if self.axes is None:
            return list(range(rank))
        c = const_ints(self, self.axes)
        return None if c is None else list(norm_axes(self, c, rank))

    def infer(self) -> TensorType:
        x = ttype(self, self.x, "x")
        n = vector_len(self, self.pads, "pads")
        if self.constant_value is not None:
            cv = ttype(self, self.constant_value, "constant_value")
            if cv.dtype != x.dtype:
                self.fail(f"constant_value {cv} and x {x} differ in element type")
        if x.shape is None:
            return x
        axes = self._axes(len(x.shape))
        if axes is None:
            return unknown_dims(len(x.shape), x.dtype)
        if n is not None and n != 2 * len(axes):
            self.fail(f"pads has {n} values for {len(axes)} axes (expected {2 * len(axes)})")
        pads = const_ints(self, self.pads)
        out = list(x.shape)
        for i, a in enumerate(axes):
            if pads is None:
                out[a] = None
                continue
            out[a] = _add(x.shape[a], pads[i] + pads[i + len(axes)])
            if isinstance(out[a], int) and out[a] < 0:  # type: ignore[operator]
                self.fail(f"pads {pads} remove more than the {x.shape[a]} elements of dim {a}")
        return TensorType(tuple(out), x.dtype)

    def reference(self, x, pads, constant_value, axes) -> np.ndarray:  # type: ignore[no-untyped-def]
        rank = x.ndim
        ax = list(range(rank)) if axes is None else [int(a) % rank for a in axes.reshape(-1)]
        p = [int(v) for v in pads.reshape(-1)]
        begin, end = [0] * rank, [0] * rank
        for i, a in enumerate(ax):
            begin[a], end[a] = p[i], p[i + len(ax)]
        crop = tuple(slice(max(-b, 0), x.shape[a] - max(-e, 0)) for a, (b, e) in enumerate(zip(begin, end)))
        x = x[crop]
        width = [(max(b, 0), max(e, 0)) for b, e in zip(begin, end)]
        if self.mode == "constant":
            value = np.zeros((), x.dtype) if constant_value is None else constant_value.reshape(-1)[0]
            return np.pad(x, width, mode="constant", constant_values=value)
        if x.size == 0 and any(w != (0, 0) for w in width):
            raise ValueError(f"cannot pad an empty tensor in {self.mode} mode")
        return np.pad(x, width, mode=_NP_MODE[self.mode])


class CenterCropPad(Op):
    """Crop or zero-pad each of ``axes`` (default: all) to the size in ``shape``, keeping the center:
    a crop starts at ``(n - size) // 2``, a pad puts ``(size - n) // 2`` before and the rest after."""

    name = "nn.center_crop_pad"
    traits = (Pure,)
    x = operand()
    shape = operand(IDX)
    out = result()
    axes = attr(INTS, default=None)

    def infer(self) -> TensorType:
        x = ttype(self, self.x, "x")
        n = vector_len(self, self.shape, "shape")
        if x.shape is None:
            return x
        rank = len(x.shape)
        axes = list(range(rank)) if self.axes is None else list(norm_axes(self, self.axes, rank))
        if n is not None and n != len(axes):
            self.fail(f"shape has {n} values for {len(axes)} axes")
        sizes = const_ints(self, self.shape)
        out: list[Dim] = list(x.shape)
        for i, a in enumerate(axes):
            out[a] = None if sizes is None else sizes[i]
        return TensorType(tuple(out), x.dtype)

    def reference(self, x: np.ndarray, shape: np.ndarray) -> np.ndarray:
        rank = x.ndim
        axes = range(rank) if self.axes is None else [a % rank for a in self.axes]
        out = x
        for a, size in zip(axes, (int(s) for s in shape.reshape(-1))):
            n = out.shape[a]
            if n > size:
                start = (n - size) // 2
                out = np.take(out, np.arange(start, start + size), axis=a)
            elif n < size:
                width = [(0, 0)] * rank
                before = (size - n) // 2
                width[a] = (before, size - n - before)
                out = np.pad(out, width)
        return np.asarray(out)


class Col2Im(Op):
    """Sum column blocks back into images (torch's fold, N-d): ``x`` is ``[N, C * prod(block_shape), L]``
    with L the number of block positions; the result is ``[N, C, *image_shape]``."""

    name = "nn.col2im"
    traits = (Pure,)
    x = operand()
    image_shape = operand([D.i64])
    block_shape = operand([D.i64])
    out = result()
    dilations = attr(INTS)
    pads = attr(INTS)
    strides = attr(INTS)

    def infer(self) -> TensorType:
        x = ttype(self, self.x, "x")
        n = vector_len(self, self.image_shape, "image_shape")
        nb = vector_len(self, self.block_shape, "block_shape")
        if x.rank not in (None, 3):
            self.fail(f"x must be 3-D [N, C * prod(block_shape), L], found {x}")
        for key, want in (("dilations", n), ("strides", n), ("pads", None if n is None else 2 * n)):
            if want is not None and len(self.attributes[key]) != want:
                self.fail(f"{key} has {len(self.attributes[key])} values, expected {want}")
        if n is not None and nb is not None and n != nb:
            self.fail(f"image_shape has {n} values and block_shape {nb}")
        image, block = const_ints(self, self.image_shape), const_ints(self, self.block_shape)
        batch, ck = (x.shape[0], x.shape[1]) if x.shape is not None else (None, None)
        channels: Dim = None
        if block is not None:
            k = int(np.prod(block))
            if isinstance(ck, int):
                if k <= 0 or ck % k:
                    self.fail(f"{ck} columns are not divisible by prod(block_shape) = {k}")
                channels = ck // k
        if image is None:
            return unknown_dims(None if n is None else 2 + n, x.dtype)
        return TensorType((batch, channels, *image), x.dtype)

    def reference(self, x: np.ndarray, image_shape: np.ndarray, block_shape: np.ndarray) -> np.ndarray:
        image, block = [int(v) for v in image_shape], [int(v) for v in block_shape]
        nsp = len(image)
        dil, st, pads = self.dilations, self.strides, self.pads
        padded = [image[i] + pads[i] + pads[i + nsp] for i in range(nsp)]
        counts = [(padded[i] - dil[i] * (block[i] - 1) - 1) // st[i] + 1 for i in range(nsp)]
        n, ck, length = x.shape
        k = int(np.prod(block))
        if int(np.prod(counts)) != length:
            raise ValueError(f"{length} block positions do not match the {counts} that fit the image")
        cols = x.astype(np.float64 if x.dtype.kind == "f" else x.dtype).reshape(n, ck // k, *block, *counts)
        out = np.zeros((n, ck // k, *padded), cols.dtype)
        for off in itertools.product(*(range(b) for b in block)):
            where = tuple(
                slice(off[i] * dil[i], off[i] * dil[i] + st[i] * (counts[i] - 1) + 1, st[i])
                for i in range(nsp)
            )
            out[(slice(None), slice(None), *where)] += cols[(slice(None), slice(None), *off)]
        crop = tuple(slice(pads[i], pads[i] + image[i]) for i in range(nsp))
        return as_dtype(np.asarray(out[(slice(None), slice(None), *crop)]), self.results[0].type)


class _BlockOp(Op):
    """DepthToSpace / SpaceToDepth on NCHW: blocks of ``blocksize`` x ``blocksize`` pixels."""

    traits = (Pure,)
    x = operand()
    out = result()
    blocksize = attr(INT)
    mode = attr(one_of("DCR", "CRD"), default="DCR")

    def verify_op(self) -> None:
        x = ttype(self, self.x, "x")
        if x.rank not in (None, 4):
            self.fail(f"x must be 4-D (NCHW), found {x}")
        if self.blocksize < 1:
            self.fail(f"blocksize must be >= 1, found {self.blocksize}")


class DepthToSpace(_BlockOp):
    """``[N, C*b*b, H, W] -> [N, C, H*b, W*b]``; DCR: channel = (bh*b + bw)*C + c, CRD: c*b*b + bh*b + bw."""

    name = "nn.depth_to_space"

    def infer(self) -> TensorType:
        x = ttype(self, self.x, "x")
        if x.shape is None:
            return unknown_dims(4, x.dtype)
        n, c, h, w = x.shape
        b = self.blocksize
        if isinstance(c, int) and c % (b * b):
            self.fail(f"{c} channels are not divisible by blocksize^2 = {b * b}")
        return TensorType((n, _div(c, b * b), prod_dim((h, b)), prod_dim((w, b))), x.dtype)

    def reference(self, x: np.ndarray) -> np.ndarray:
        n, c, h, w = x.shape
        b = self.blocksize
        if self.mode == "DCR":
            t = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
        else:
            t = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
        return t.reshape(n, c // (b * b), h * b, w * b)


class SpaceToDepth(_BlockOp):
    """``[N, C, H*b, W*b] -> [N, C*b*b, H, W]``, the inverse of depth_to_space in the same mode."""

    name = "nn.space_to_depth"

    def infer(self) -> TensorType:
        x = ttype(self, self.x, "x")
        if x.shape is None:
            return unknown_dims(4, x.dtype)
        n, c, h, w = x.shape
        b = self.blocksize
        for d in (h, w):
            if isinstance(d, int) and d % b:
                self.fail(f"spatial dims {h}x{w} are not divisible by blocksize {b}")
        return TensorType((n, prod_dim((c, b * b)), _div(h, b), _div(w, b)), x.dtype)

    def reference(self, x: np.ndarray) -> np.ndarray:
        n, c, h, w = x.shape
        b = self.blocksize
        t = x.reshape(n, c, h // b, b, w // b, b)
        t = t.transpose(0, 3, 5, 1, 2, 4) if self.mode == "DCR" else t.transpose(0, 1, 3, 5, 2, 4)
        return t.reshape(n, c * b * b, h // b, w // b)


def _div(d: Dim, k: int) -> Dim:
    if k == 1:
        return d
    return d // k if isinstance(d, int) else None
