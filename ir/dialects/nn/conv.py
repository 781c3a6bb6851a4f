"""Convolution (N-d, grouped, dilated, explicitly padded; ONNX Conv semantics in NCHW)."""

from __future__ import annotations

import itertools

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import INT, INTS, one_of
from tritium.ir.dialects.nn.common import as_dtype, mul_dims, ttype
from tritium.ir.opdef import Op, Pure, SameOperandsElementType, attr, operand, opt_operand, result
from tritium.ir.types import Dim, TensorType


def conv_out_dim(size: Dim, k: int, stride: int, pad_begin: int, pad_end: int, dilation: int) -> Dim:
    if not isinstance(size, int):
        return None
    return (size + pad_begin + pad_end - dilation * (k - 1) - 1) // stride + 1


class Conv(Op):
    """``out[n, m, *o] = b[m] + sum(x[n, c, o*s + k*d - pad] * w[m, c, *k])`` over each group's channels.

    ``pads`` is ``[begin_0, begin_1, ..., end_0, end_1, ...]``; frontends resolve auto_pad into it.
    With ``layout = "NHWC"`` (2-D only; set by the convert-layout pass) the input, output and
    weight are channels-last: ``x[n, h, w, c]``, ``w[m, r, s, c]``, ``out[n, oh, ow, m]``.
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
    layout = attr(one_of("NCHW", "NHWC"), default=None, doc="NHWC: channels-last (absent: NCHW)")

    @property
    def channels_last(self) -> bool:
        return self.layout == "NHWC"

    def _nchw_types(self) -> tuple[TensorType, TensorType]:
        """x and w as NCHW/KCRS types (the checks and inference are written for that layout)."""
        x, w = ttype(self, self.x, "x"), ttype(self, self.w, "w")
        if not self.channels_last:
            return x, w
        if w.shape is None or len(w.shape) != 4 or (x.shape is not None and len(x.shape) != 4):
            self.fail(f"layout NHWC is for 2-D convolutions, found input {x} and weight {w}")

        def to_first(t: TensorType) -> TensorType:
            if t.shape is None:
                return t
            return TensorType((t.shape[0], t.shape[3], t.shape[1], t.shape[2]), t.dtype)

        return to_first(x), to_first(w)

    def verify_op(self) -> None:
        x, w = self._nchw_types()
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
        x, w = self._nchw_types()
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
        if self.channels_last:
            return TensorType((x.shape[0], *sp, w.shape[0]), x.dtype)
        return TensorType((x.shape[0], w.shape[0], *sp), x.dtype)

    def reference(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
        if self.channels_last:
            x, w = x.transpose(0, 3, 1, 2), w.transpose(0, 3, 1, 2)
        out = conv_nd(x, w, b, self.strides, self.pads, self.dilations, self.group)
        if self.channels_last:
            out = out.transpose(0, 2, 3, 1)
        return as_dtype(np.ascontiguousarray(out), self.results[0].type)


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


def check_window_attrs(op: Op, nsp: int, **attrs: tuple[int, ...]) -> None:
    """Each attribute has ``nsp`` values (``pads``: ``2 * nsp``) and is non-negative (strides and
    dilations positive)."""
    for key, vals in attrs.items():
        want = 2 * nsp if key == "pads" else nsp
        if len(vals) != want:
            op.fail(f"{key} has {len(vals)} values, expected {want}")
        low = 1 if key in ("strides", "dilations") else 0
        if any(v < low for v in vals):
            op.fail(f"{key} must be {'positive' if low else 'non-negative'}, found {list(vals)}")


class ConvTranspose(Op):
    """Transposed convolution: each input element scatters ``x[n, c] * w[c, m]`` to
    ``o = i * stride + k * dilation``; the full output (plus ``output_padding`` zeros at the end) is
    then cropped by ``pads``. Weight layout ``(C, M / group, *kernel)``; output channels ``M``."""

    name = "nn.conv_transpose"
    traits = (Pure, SameOperandsElementType)
    x = operand(D.FLOATS)
    w = operand(D.FLOATS)
    b = opt_operand(D.FLOATS)
    out = result()
    strides = attr(INTS)
    pads = attr(INTS)
    dilations = attr(INTS)
    output_padding = attr(INTS)
    group = attr(INT, default=1)

    def verify_op(self) -> None:
        x, w = ttype(self, self.x, "x"), ttype(self, self.w, "w")
        if w.shape is None or len(w.shape) < 3:
            self.fail(f"weight must have a known rank >= 3, found {w}")
        nsp = len(w.shape) - 2
        if x.shape is not None and len(x.shape) != nsp + 2:
            self.fail(f"input {x} and weight {w} differ in rank")
        check_window_attrs(
            self,
            nsp,
            strides=self.strides,
            dilations=self.dilations,
            pads=self.pads,
            output_padding=self.output_padding,
        )
        if self.group < 1:
            self.fail(f"group must be >= 1, found {self.group}")
        cin = x.shape[1] if x.shape else None
        if isinstance(cin, int) and isinstance(w.shape[0], int) and cin != w.shape[0]:
            self.fail(f"input has {cin} channels but the weight has {w.shape[0]}")
        if isinstance(w.shape[0], int) and w.shape[0] % self.group:
            self.fail(f"{w.shape[0]} input channels are not divisible by group {self.group}")
        if self.b is not None:
            bt = ttype(self, self.b, "b")
            m = w.shape[1] * self.group if isinstance(w.shape[1], int) else None
            if bt.shape is not None and (
                len(bt.shape) != 1 or (m is not None and bt.shape[0] not in (m, None))
            ):
                self.fail(f"bias must be 1-D with {m} values, found {bt}")

    def out_spatial(self, spatial, kernel) -> list[Dim]:  # type: ignore[no-untyped-def]
        nsp = len(kernel)
        out: list[Dim] = []
        for i in range(nsp):
            size = spatial[i]
            if not isinstance(size, int) or not isinstance(kernel[i], int):
                out.append(None)
                continue
            full = (
                self.strides[i] * (size - 1)
                + self.output_padding[i]
                + (kernel[i] - 1) * self.dilations[i]
                + 1
            )
            out.append(full - self.pads[i] - self.pads[nsp + i])
        if any(isinstance(d, int) and d < 1 for d in out):
            self.fail(f"pads crop the whole output: output spatial size {out}")
        return out

    def infer(self) -> TensorType:
        x, w = ttype(self, self.x, "x"), ttype(self, self.w, "w")
        if x.shape is None or w.shape is None:
            return TensorType(None, x.dtype)
        m = w.shape[1] * self.group if isinstance(w.shape[1], int) else None
        return TensorType((x.shape[0], m, *self.out_spatial(x.shape[2:], w.shape[2:])), x.dtype)

    def reference(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
        nsp, g = w.ndim - 2, self.group
        n, c = x.shape[:2]
        mg, kernel, spatial = w.shape[1], w.shape[2:], x.shape[2:]
        s, d = self.strides, self.dilations
        full = [
            s[i] * (spatial[i] - 1) + self.output_padding[i] + (kernel[i] - 1) * d[i] + 1 for i in range(nsp)
        ]
        out = np.zeros((n, g, mg, *full))
        xg = x.astype(np.float64).reshape(n, g, c // g, *spatial)
        wg = w.astype(np.float64).reshape(g, c // g, mg, *kernel)
        for k in itertools.product(*(range(v) for v in kernel)):
            sl = tuple(
                slice(k[i] * d[i], k[i] * d[i] + s[i] * (spatial[i] - 1) + 1, s[i]) for i in range(nsp)
            )
            out[(slice(None), slice(None), slice(None), *sl)] += np.einsum(
                "ngc...,gcm->ngm...", xg, wg[(slice(None), slice(None), slice(None), *k)]
            )
        crop = tuple(slice(self.pads[i], full[i] - self.pads[nsp + i]) for i in range(nsp))
        out = out[(slice(None), slice(None), slice(None), *crop)]
        out = out.reshape(n, g * mg, *out.shape[3:])
        if b is not None:
            out = out + b.astype(np.float64).reshape(1, -1, *([1] * nsp))
        return as_dtype(out, self.results[0].type)  # type: ignore[arg-type]


def sample_linear(x: np.ndarray, pos: list[np.ndarray]) -> np.ndarray:
    """N-linear interpolation of ``x`` (B, G, Cg, *spatial) at positions ``pos[i]`` (B, G, *P) along
    each spatial axis; neighbours outside the input count as zero. Returns (B, G, Cg, *P)."""
    spatial = x.shape[3:]
    bsz, grp, cg = x.shape[:3]
    flat = x.reshape(bsz, grp, cg, -1)
    lows = [np.floor(p) for p in pos]
    fracs = [p - lo for p, lo in zip(pos, lows)]
    pshape = pos[0].shape[2:]
    total = np.zeros((bsz, grp, cg, int(np.prod(pshape))))
    for corner in itertools.product((0, 1), repeat=len(spatial)):
        weight = np.ones(pos[0].shape)
        index = np.zeros(pos[0].shape, np.int64)
        valid = np.ones(pos[0].shape, bool)
        for i, c in enumerate(corner):
            idx = lows[i].astype(np.int64) + c
            weight = weight * (fracs[i] if c else 1.0 - fracs[i])
            valid &= (idx >= 0) & (idx < spatial[i])
            index = index * spatial[i] + np.clip(idx, 0, spatial[i] - 1)
        vals = np.take_along_axis(flat, index.reshape(bsz, grp, 1, -1), axis=3)
        total += vals * (weight * valid).reshape(bsz, grp, 1, -1)
    return total.reshape(bsz, grp, cg, *pshape)


class DeformConv(Op):
    """Deformable convolution: kernel tap ``k`` of output ``o`` reads the input at
    ``o * stride - pad_begin + k * dilation + offset`` (N-linear interpolation, zero outside), scaled by
    ``mask``. ``offset`` is (N, offset_group * K * nsp, *out) with the nsp coordinates of each tap
    innermost; ``mask`` is (N, offset_group * K, *out)."""

    name = "nn.deform_conv"
    traits = (Pure, SameOperandsElementType)
    x = operand(D.FLOATS)
    w = operand(D.FLOATS)
    offset = operand(D.FLOATS)
    b = opt_operand(D.FLOATS)
    mask = opt_operand(D.FLOATS)
    out = result()
    strides = attr(INTS)
    pads = attr(INTS)
    dilations = attr(INTS)
    group = attr(INT, default=1)
    offset_group = attr(INT, default=1)

    def verify_op(self) -> None:
        x, w = ttype(self, self.x, "x"), ttype(self, self.w, "w")
        if w.shape is None or len(w.shape) < 3:
            self.fail(f"weight must have a known rank >= 3, found {w}")
        nsp = len(w.shape) - 2
        check_window_attrs(self, nsp, strides=self.strides, dilations=self.dilations, pads=self.pads)
        if self.group < 1 or self.offset_group < 1:
            self.fail(f"group and offset_group must be >= 1, found {self.group} and {self.offset_group}")
        if x.shape is not None:
            if len(x.shape) != nsp + 2:
                self.fail(f"input {x} and weight {w} differ in rank")
            c = x.shape[1]
            if isinstance(c, int) and isinstance(w.shape[1], int) and c != w.shape[1] * self.group:
                self.fail(f"input has {c} channels but weight expects {w.shape[1]} x group {self.group}")
            if isinstance(c, int) and c % self.offset_group:
                self.fail(f"{c} channels are not divisible by offset_group {self.offset_group}")
        k = mul_dims(w.shape[2:])
        o = ttype(self, self.offset, "offset")
        if o.shape is not None and isinstance(k, int) and isinstance(o.shape[1], int):
            if o.shape[1] != self.offset_group * k * nsp:
                self.fail(f"offset has {o.shape[1]} channels, expected {self.offset_group * k * nsp}")

    def infer(self) -> TensorType:
        x, w = ttype(self, self.x, "x"), ttype(self, self.w, "w")
        if x.shape is None or w.shape is None:
            return TensorType(None, x.dtype)
        nsp = len(w.shape) - 2
        p, s, d = self.pads, self.strides, self.dilations
        sp = [conv_out_dim(x.shape[2 + i], w.shape[2 + i], s[i], p[i], p[nsp + i], d[i]) for i in range(nsp)]
        return TensorType((x.shape[0], w.shape[0], *sp), x.dtype)

    def reference(self, x, w, offset, b, mask):  # type: ignore[no-untyped-def]
        nsp, og, g = w.ndim - 2, self.offset_group, self.group
        n, c = x.shape[:2]
        m, kernel = w.shape[0], w.shape[2:]
        out_sp = offset.shape[2:]
        kk = int(np.prod(kernel))
        off = offset.astype(np.float64).reshape(n, og, kk, nsp, *out_sp)
        taps = np.array(list(itertools.product(*(range(v) for v in kernel)))).reshape(kk, nsp)
        pos = []
        for i in range(nsp):
            shape = [1] * nsp
            shape[i] = out_sp[i]
            base = np.arange(out_sp[i]).reshape(shape) * self.strides[i] - self.pads[i]
            tap = (taps[:, i] * self.dilations[i]).reshape(kk, *([1] * nsp))
            pos.append(off[:, :, :, i] + (base + tap)[None, None])
        cols = sample_linear(x.astype(np.float64).reshape(n, og, c // og, *x.shape[2:]), pos)
        if mask is not None:
            cols = cols * mask.astype(np.float64).reshape(n, og, 1, kk, *out_sp)
        cols = cols.reshape(n, g, c // g, kk, -1)
        wg = w.astype(np.float64).reshape(g, m // g, c // g, kk)
        out = np.einsum("ngckp,gmck->ngmp", cols, wg).reshape(n, m, *out_sp)
        if b is not None:
            out = out + b.astype(np.float64).reshape(1, m, *([1] * nsp))
        return as_dtype(out, self.results[0].type)  # type: ignore[arg-type]


class CausalConvWithState(Op):
    """Causal depthwise 1-D convolution over (batch, channels, length): the input is prefixed with
    ``past_state`` (zeros when absent; k - 1 steps), ``out[t] = sum_j w[c, 0, j] * padded[t + j] + b``,
    then the optional SiLU (``silu`` = ``swish``: ``y * sigmoid(y)``). ``present_state`` is the last
    k - 1 steps of the prefixed input."""

    name = "nn.causal_conv_with_state"
    traits = (Pure, SameOperandsElementType)
    x = operand(D.FLOATS)
    w = operand(D.FLOATS)
    b = opt_operand(D.FLOATS)
    past_state = opt_operand(D.FLOATS)
    out = result()
    present_state = result()
    activation = attr(one_of("none", "silu", "swish"), default="none")

    def verify_op(self) -> None:
        x, w = ttype(self, self.x, "x"), ttype(self, self.w, "w")
        if x.shape is not None and len(x.shape) != 3:
            self.fail(f"input must be (batch, channels, length), found {x}")
        if w.shape is not None and (len(w.shape) != 3 or w.shape[1] not in (1, None)):
            self.fail(f"weight must be (channels, 1, k), found {w}")
        if x.shape is not None and w.shape is not None:
            if isinstance(x.shape[1], int) and isinstance(w.shape[0], int) and x.shape[1] != w.shape[0]:
                self.fail(f"input has {x.shape[1]} channels but the weight has {w.shape[0]}")
        if self.past_state is not None and w.shape is not None and x.shape is not None:
            p = ttype(self, self.past_state, "past_state")
            k = w.shape[2]
            want = (x.shape[0], x.shape[1], k - 1 if isinstance(k, int) else None)
            if p.shape is not None and (
                len(p.shape) != 3
                or any(isinstance(a, int) and isinstance(b, int) and a != b for a, b in zip(p.shape, want))
            ):
                self.fail(f"past_state must be (batch, channels, k - 1), found {p}")

    def infer(self) -> list[TensorType]:
        x, w = ttype(self, self.x, "x"), ttype(self, self.w, "w")
        if x.shape is None:
            return [x, TensorType((None,) * 3, x.dtype)]
        k = w.shape[2] if w.shape is not None else None
        return [x, TensorType((x.shape[0], x.shape[1], k - 1 if isinstance(k, int) else None), x.dtype)]

    def reference(self, x, w, b, past_state):  # type: ignore[no-untyped-def]
        bsz, c, length = x.shape
        k = w.shape[2]
        past = np.zeros((bsz, c, k - 1)) if past_state is None else past_state.astype(np.float64)
        padded = np.concatenate([past, x.astype(np.float64)], axis=2)
        w64 = w.astype(np.float64)
        y = sum(padded[:, :, j : j + length] * w64[None, :, 0, j, None] for j in range(k))
        if b is not None:
            y = y + b.astype(np.float64)[None, :, None]
        if self.activation != "none":
            y = y / (1.0 + np.exp(-y))
        present = padded[:, :, padded.shape[2] - (k - 1) :]
        rt = self.results
        return as_dtype(np.asarray(y), rt[0].type), as_dtype(present, rt[1].type)  # type: ignore[arg-type]
