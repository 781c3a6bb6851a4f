"""Pooling over N-d spatial windows (NCHW): max, average and Lp pooling, their global forms, and
max unpooling. ``pads`` is always explicit ``[begin..., end...]``; frontends resolve auto_pad."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import BOOL, INT, INTS, one_of
from tritium.ir.dialects.nn.common import as_dtype, ttype
from tritium.ir.opdef import Op, Pure, attr, operand, opt_operand, result
from tritium.ir.types import Dim, TensorType

POOL_TYPES = D.FLOATS | {D.i8, D.u8}


def pool_out_dim(
    size: Dim, k: int, stride: int, pad_begin: int, pad_end: int, dilation: int, ceil: bool
) -> Dim:
    """Output length of one spatial axis (ONNX pooling; with ceil_mode a window that would start in
    the end padding is dropped)."""
    if not isinstance(size, int):
        return None
    span = size + pad_begin + pad_end - dilation * (k - 1) - 1
    if not ceil:
        return span // stride + 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + pad_begin:
        out -= 1
    return out


def window_views(
    x: np.ndarray,
    kernel: Sequence[int],
    strides: Sequence[int],
    pads: Sequence[int],
    dilations: Sequence[int],
    out: Sequence[int],
    fill: float,
) -> Iterator[tuple[tuple[int, ...], np.ndarray]]:
    """For each kernel offset, the (N, C, *out) view of ``x`` (padded with ``fill``) that it reads."""
    n = len(kernel)
    ends = [
        max((out[i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - x.shape[2 + i] - pads[i], 0)
        for i in range(n)
    ]
    xp = np.pad(x, [(0, 0), (0, 0)] + [(pads[i], ends[i]) for i in range(n)], constant_values=fill)
    for k in itertools.product(*(range(s) for s in kernel)):
        sl = tuple(
            slice(k[i] * dilations[i], k[i] * dilations[i] + strides[i] * (out[i] - 1) + 1, strides[i])
            for i in range(n)
        )
        yield k, xp[(slice(None), slice(None), *sl)]


def window_positions(out: int, k: int, stride: int, pad_begin: int, dilation: int) -> np.ndarray:
    """(out, k) input positions read along one axis (negative or past the end: padding)."""
    return np.arange(out)[:, None] * stride + np.arange(k)[None, :] * dilation - pad_begin


class PoolOp(Op):
    """Base of windowed pools: ``kernel_shape``, ``strides``, ``dilations`` and ``pads`` are explicit."""

    traits = (Pure,)
    x = operand(POOL_TYPES)
    kernel_shape = attr(INTS)
    strides = attr(INTS)
    pads = attr(INTS)
    dilations = attr(INTS)
    ceil_mode = attr(BOOL, default=False)
    layout = attr(one_of("NCHW", "NHWC"), default=None, doc="NHWC: channels-last 2-D pooling (absent: NCHW)")

    def _x_nchw(self) -> TensorType:
        x = ttype(self, self.x, "x")
        if self.layout != "NHWC" or x.shape is None:
            return x
        if len(x.shape) != 4:
            self.fail(f"layout NHWC is for 2-D pooling, found input {x}")
        return TensorType((x.shape[0], x.shape[3], x.shape[1], x.shape[2]), x.dtype)

    def reference(self, x: np.ndarray) -> Any:
        if self.layout != "NHWC":
            return self.reference_nchw(x)
        out = self.reference_nchw(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        back = lambda a: np.ascontiguousarray(np.asarray(a).transpose(0, 2, 3, 1))  # noqa: E731
        return tuple(back(a) for a in out) if isinstance(out, tuple) else back(out)

    def reference_nchw(self, x: np.ndarray) -> Any:
        raise NotImplementedError

    def verify_op(self) -> None:
        x = self._x_nchw()
        n = len(self.kernel_shape)
        if n < 1:
            self.fail("kernel_shape must have at least one value")
        if x.shape is not None and len(x.shape) != n + 2:
            self.fail(f"input {x} must have rank {n + 2} for a {n}-d kernel")
        for key, count in (("strides", n), ("dilations", n), ("pads", 2 * n)):
            if len(self.attributes[key]) != count:
                self.fail(f"{key} has {len(self.attributes[key])} values, expected {count}")
        if any(v < 1 for v in (*self.kernel_shape, *self.strides, *self.dilations)):
            self.fail("kernel_shape, strides and dilations must be positive")
        if any(p < 0 for p in self.pads):
            self.fail(f"pads must be non-negative, found {list(self.pads)}")

    def out_spatial(self, shape: Sequence[Dim]) -> list[Dim]:
        n = len(self.kernel_shape)
        sp = [
            pool_out_dim(
                shape[2 + i],
                self.kernel_shape[i],
                self.strides[i],
                self.pads[i],
                self.pads[n + i],
                self.dilations[i],
                self.ceil_mode,
            )
            for i in range(n)
        ]
        if any(isinstance(d, int) and d < 1 for d in sp):
            self.fail(f"the window does not fit: output spatial size {sp}")
        return sp

    def out_type(self) -> TensorType:
        x = self._x_nchw()
        if x.shape is None:
            return TensorType(None, x.dtype)
        if self.layout == "NHWC":
            return TensorType((x.shape[0], *self.out_spatial(x.shape), x.shape[1]), x.dtype)
        return TensorType((x.shape[0], x.shape[1], *self.out_spatial(x.shape)), x.dtype)

    def infer(self) -> TensorType:
        return self.out_type()

    def views(self, x: np.ndarray, fill: float) -> Iterator[tuple[tuple[int, ...], np.ndarray]]:
        out = self.out_spatial(x.shape)
        return window_views(x, self.kernel_shape, self.strides, self.pads, self.dilations, out, fill)  # type: ignore[arg-type]


class MaxPool(PoolOp):
    """Max over each window (padding never wins). ``indices`` holds the flat index of the maximum in
    the input (row-major, or column-major over the spatial axes when ``storage_order`` is 1); the
    first maximum in window order wins ties. With ``layout = "NHWC"`` the indices still count in the
    NCHW order."""

    name = "nn.max_pool"
    out = result()
    indices = result()
    storage_order = attr(INT, default=0)

    def verify_op(self) -> None:
        super().verify_op()
        if self.storage_order not in (0, 1):
            self.fail(f"storage_order must be 0 or 1, found {self.storage_order}")

    def infer(self) -> list[TensorType]:
        t = self.out_type()
        return [t, TensorType(t.shape, D.i64)]

    def reference_nchw(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        work = x if x.dtype.kind == "f" else x.astype(np.float64)
        n = len(self.kernel_shape)
        spatial = x.shape[2:]
        out_sp = self.out_spatial(x.shape)
        pos = [
            window_positions(
                out_sp[i], self.kernel_shape[i], self.strides[i], self.pads[i], self.dilations[i]
            )  # type: ignore[arg-type]
            for i in range(n)
        ]
        order = range(n) if self.storage_order == 0 else range(n - 1, -1, -1)
        mult, step = [0] * n, 1
        for i in reversed(list(order)):
            mult[i] = step
            step *= spatial[i]
        best = idx = None
        for k, view in self.views(work, -np.inf):
            flat = np.zeros(out_sp, np.int64)  # type: ignore[arg-type]
            for i in range(n):
                shape = [1] * n
                shape[i] = out_sp[i]  # type: ignore[call-overload]
                flat = flat + (pos[i][:, k[i]] * mult[i]).reshape(shape)
            if best is None:
                best, idx = view, np.broadcast_to(flat, view.shape)
            else:  # NaN wins (and stays), as max and reduce_max keep it; its index is the first NaN's
                take = (view > best) | (np.isnan(view) & ~np.isnan(best))
                best = np.where(take, view, best)
                idx = np.where(take, flat, idx)
        nc = x.shape[0] * x.shape[1]
        plane = int(np.prod(spatial))
        base = (np.arange(nc, dtype=np.int64) * plane).reshape(x.shape[0], x.shape[1], *([1] * n))
        return as_dtype(np.asarray(best), self.results[0].type), (idx + base).astype(np.int64)


class AveragePool(PoolOp):
    """Mean over each window; the divisor counts input elements, plus the explicit padding when
    ``count_include_pad`` (never the ceil-mode overhang past the end padding)."""

    name = "nn.average_pool"
    x = operand(D.FLOATS)
    out = result()
    count_include_pad = attr(BOOL, default=False)

    def reference_nchw(self, x: np.ndarray) -> np.ndarray:
        n = len(self.kernel_shape)
        out_sp = self.out_spatial(x.shape)
        total = None
        for _, view in self.views(x.astype(np.float64), 0.0):
            total = view.copy() if total is None else total + view
        count = np.ones(out_sp, np.float64)  # type: ignore[arg-type]
        for i in range(n):
            p = window_positions(
                out_sp[i], self.kernel_shape[i], self.strides[i], self.pads[i], self.dilations[i]
            )  # type: ignore[arg-type]
            lo, hi = (
                (-self.pads[i], x.shape[2 + i] + self.pads[n + i])
                if self.count_include_pad
                else (0, x.shape[2 + i])
            )
            shape = [1] * n
            shape[i] = out_sp[i]  # type: ignore[call-overload]
            count = count * ((p >= lo) & (p < hi)).sum(axis=1).reshape(shape)
        with np.errstate(all="ignore"):
            return as_dtype(total / count, self.results[0].type)


class LpPool(PoolOp):
    """``(sum |x|^p) ^ (1/p)`` over each window (padding contributes zero)."""

    name = "nn.lp_pool"
    x = operand(D.FLOATS)
    out = result()
    p = attr(INT, default=2)

    def verify_op(self) -> None:
        super().verify_op()
        if self.p < 1:
            self.fail(f"p must be >= 1, found {self.p}")

    def reference_nchw(self, x: np.ndarray) -> np.ndarray:
        total = None
        a = np.abs(x.astype(np.float64)) ** self.p
        for _, view in self.views(a, 0.0):
            total = view.copy() if total is None else total + view
        return as_dtype(total ** (1.0 / self.p), self.results[0].type)  # type: ignore[operator]


class GlobalPoolOp(Op):
    """Pool over all spatial axes: (N, C, D1, ...) -> (N, C, 1, ...)."""

    traits = (Pure,)
    x = operand(D.FLOATS)
    out = result()

    def infer(self) -> TensorType:
        x = ttype(self, self.x, "x")
        if x.shape is None:
            return x
        if len(x.shape) < 2:
            self.fail(f"input must have rank >= 2 (N, C, ...), found {x}")
        return TensorType((*x.shape[:2], *([1] * (len(x.shape) - 2))), x.dtype)

    def axes(self, x: np.ndarray) -> tuple[int, ...]:
        return tuple(range(2, x.ndim))


class GlobalAveragePool(GlobalPoolOp):
    name = "nn.global_average_pool"

    def reference(self, x: np.ndarray) -> np.ndarray:
        return as_dtype(x.astype(np.float64).mean(axis=self.axes(x), keepdims=True), self.results[0].type)


class GlobalMaxPool(GlobalPoolOp):
    name = "nn.global_max_pool"
    x = operand(POOL_TYPES)

    def reference(self, x: np.ndarray) -> np.ndarray:
        return as_dtype(x.max(axis=self.axes(x), keepdims=True), self.results[0].type)


class GlobalLpPool(GlobalPoolOp):
    name = "nn.global_lp_pool"
    p = attr(INT, default=2)

    def verify_op(self) -> None:
        if self.p < 1:
            self.fail(f"p must be >= 1, found {self.p}")

    def reference(self, x: np.ndarray) -> np.ndarray:
        s = (np.abs(x.astype(np.float64)) ** self.p).sum(axis=self.axes(x), keepdims=True)
        return as_dtype(s ** (1.0 / self.p), self.results[0].type)


class MaxUnpool(Op):
    """Scatter ``x`` into zeros at the flat ``indices`` (as produced by nn.max_pool). The output has
    shape ``output_shape`` when given, else ``(in - 1) * stride + kernel - pad_begin - pad_end``."""

    name = "nn.max_unpool"
    traits = (Pure,)
    x = operand(D.FLOATS)
    indices = operand([D.i64])
    output_shape = opt_operand([D.i64])
    out = result()
    kernel_shape = attr(INTS)
    strides = attr(INTS)
    pads = attr(INTS)

    def verify_op(self) -> None:
        n = len(self.kernel_shape)
        x, i = ttype(self, self.x, "x"), ttype(self, self.indices, "indices")
        for key, count in (("strides", n), ("pads", 2 * n)):
            if len(self.attributes[key]) != count:
                self.fail(f"{key} has {len(self.attributes[key])} values, expected {count}")
        if x.shape is not None and len(x.shape) != n + 2:
            self.fail(f"input {x} must have rank {n + 2} for a {n}-d kernel")
        if x.shape is not None and i.shape is not None and len(i.shape) != len(x.shape):
            self.fail(f"indices {i} must have the shape of the input {x}")

    def infer(self) -> TensorType:
        x = ttype(self, self.x, "x")
        n = len(self.kernel_shape)
        if self.output_shape is not None:
            c = self.const(self.output_shape)
            if c is not None:
                dims = tuple(int(v) for v in c.reshape(-1))
                if len(dims) != n + 2:
                    self.fail(f"output_shape {list(dims)} must have {n + 2} values")
                return TensorType(dims, x.dtype)
            return TensorType((None,) * (n + 2), x.dtype)
        if x.shape is None:
            return TensorType((None,) * (n + 2), x.dtype)
        sp = [
            (d - 1) * self.strides[i] + self.kernel_shape[i] - self.pads[i] - self.pads[n + i]
            if isinstance(d, int)
            else None
            for i, d in enumerate(x.shape[2:])
        ]
        return TensorType((x.shape[0], x.shape[1], *sp), x.dtype)

    def natural_shape(self, x: np.ndarray, pads: Sequence[int]) -> tuple[int, ...]:
        n = len(self.kernel_shape)
        return (
            *x.shape[:2],
            *(
                (d - 1) * self.strides[i] + self.kernel_shape[i] - pads[i] - pads[n + i]
                for i, d in enumerate(x.shape[2:])
            ),
        )

    def reference(self, x: np.ndarray, indices: np.ndarray, output_shape: np.ndarray | None) -> np.ndarray:
        """Indices address the unpooled shape; with ``output_shape`` (where ONNX ignores ``pads``)
        that is the unpadded one, and each element keeps its coordinates in the larger output."""
        rt = self.results[0].type
        flat = indices.reshape(-1).astype(np.int64)
        if output_shape is None:
            shape = self.natural_shape(x, self.pads)
        else:
            natural = self.natural_shape(x, [0] * len(self.pads))
            shape = tuple(int(v) for v in output_shape.reshape(-1))
            if flat.size and (flat.min() < 0 or flat.max() >= int(np.prod(natural))):
                raise ValueError(f"an index is outside the unpooled shape {list(natural)}")
            coords = np.unravel_index(flat, natural)
            if any(int(c.max(initial=0)) >= s for c, s in zip(coords, shape)):
                raise ValueError(
                    f"output_shape {list(shape)} is smaller than the unpooled shape {list(natural)}"
                )
            flat = np.ravel_multi_index(coords, shape)
        out = np.zeros(int(np.prod(shape)), rt.dtype.np_dtype)  # type: ignore[attr-defined]
        if flat.size and (flat.min() < 0 or flat.max() >= out.size):
            raise ValueError(f"an index is outside the output of {out.size} elements")
        out[flat] = x.reshape(-1)
        return out.reshape(shape)
