"""Convolution (N-d, grouped, dilated, explicitly padded; ONNX Conv semantics in NCHW)."""

from __future__ import annotations

import itertools

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import INT, INTS
from tritium.ir.dialects.nn.common import as_dtype, ttype
from tritium.ir.opdef import Op, Pure, SameOperandsElementType, attr, operand, opt_operand, result
from tritium.ir.types import Dim, TensorType


def conv_out_dim(size: Dim, k: int, stride: int, pad_begin: int, pad_end: int, dilation: int) -> Dim:
    if not isinstance(size, int):
        return None
    return (size + pad_begin + pad_end - dilation * (k - 1) - 1) // stride + 1


class Conv(Op):
    """``out[n, m, *o] = b[m] + sum(x[n, c, o*s + k*d - pad] * w[m, c, *k])`` over each group's channels.

    ``pads`` is ``[begin_0, begin_1, ..., end_0, end_1, ...]``; frontends resolve auto_pad into it.
    """

    name = "nn.conv"
    traits = (Pure, SameOperandsElementType)
    x = operand(D.FLOATS | D.INTS)
    w = operand(D.FLOATS | D.INTS)
    b = opt_operand(D.FLOATS | D.INTS)
    out = result()
    strides = attr(INTS)
    pads = attr(INTS)
    dilations = attr(INTS)
    group = attr(INT, default=1)

    def verify_op(self) -> None:
        x, w = ttype(self, self.x, "x"), ttype(self, self.w, "w")
        if w.shape is None:
            self.fail("weight rank must be known")
        nsp = len(w.shape) - 2
        if nsp < 1:
            self.fail(f"weight must have rank >= 3, found {w}")
        if x.shape is not None and len(x.shape) != nsp + 2:
            self.fail(f"input {x} and weight {w} differ in rank")
        for key, n in (("strides", nsp), ("dilations", nsp), ("pads", 2 * nsp)):
            if len(self.attributes[key]) != n:
                self.fail(f"{key} has {len(self.attributes[key])} values, expected {n}")
        if self.group < 1:
            self.fail(f"group must be >= 1, found {self.group}")
        cin, cout = (x.shape[1] if x.shape else None), w.shape[0]
        if isinstance(cin, int) and isinstance(w.shape[1], int) and cin != w.shape[1] * self.group:
            self.fail(f"input has {cin} channels but weight expects {w.shape[1]} x group {self.group}")
        if isinstance(cout, int) and cout % self.group:
            self.fail(f"{cout} output channels are not divisible by group {self.group}")
        if self.b is not None:
            bt = ttype(self, self.b, "b")
            if bt.shape is not None and (
                len(bt.shape) != 1 or (isinstance(cout, int) and bt.shape[0] not in (cout, None))
            ):
                self.fail(f"bias must be 1-D with {cout} values, found {bt}")

    def infer(self) -> TensorType:
        x, w = ttype(self, self.x, "x"), ttype(self, self.w, "w")
        if x.shape is None or w.shape is None:
            return TensorType(None, x.dtype)
        nsp = len(w.shape) - 2
        pads = self.pads
        sp = [
            conv_out_dim(
                x.shape[2 + i], w.shape[2 + i], self.strides[i], pads[i], pads[nsp + i], self.dilations[i]
            )
            for i in range(nsp)
        ]
        return TensorType((x.shape[0], w.shape[0], *sp), x.dtype)

    def reference(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
        return as_dtype(
            conv_nd(x, w, b, self.strides, self.pads, self.dilations, self.group), self.results[0].type
        )


def conv_nd(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, strides, pads, dilations, group: int
) -> np.ndarray:
    """Direct N-d convolution in float64 (or int64): one tensordot per kernel offset."""
    acc = np.float64 if x.dtype.kind == "f" else np.int64
    nsp = w.ndim - 2
    xp = np.pad(x.astype(acc), [(0, 0), (0, 0)] + [(pads[i], pads[nsp + i]) for i in range(nsp)])
    n, c = x.shape[:2]
    m, cg = w.shape[:2]
    out_sp = [
        (xp.shape[2 + i] - dilations[i] * (w.shape[2 + i] - 1) - 1) // strides[i] + 1 for i in range(nsp)
    ]
    xg = xp.reshape(n, group, c // group, *xp.shape[2:])
    wg = w.astype(acc).reshape(group, m // group, cg, *w.shape[2:])
    out = np.zeros((n, group, m // group, *out_sp), dtype=acc)
    for k in itertools.product(*(range(s) for s in w.shape[2:])):
        sl = tuple(
            slice(k[i] * dilations[i], k[i] * dilations[i] + strides[i] * (out_sp[i] - 1) + 1, strides[i])
            for i in range(nsp)
        )
        patch = xg[(slice(None), slice(None), slice(None), *sl)]  # n, g, cg, *out
        wk = wg[(slice(None), slice(None), slice(None), *k)]  # g, mg, cg
        out += np.einsum("ngc...,gmc->ngm...", patch, wk)
    out = out.reshape(n, m, *out_sp)
    if b is not None:
        out += b.astype(acc).reshape(1, m, *([1] * nsp))
    return out
