"""Recurrent layers: RNN, GRU and LSTM (ONNX semantics and weight layouts).

Every attribute is explicit: ``activations`` lists each direction's functions (1, 2 or 3 per
direction), ``activation_alpha``/``activation_beta`` hold one value per activation (the defaults of
the functions that take none), and ``clip`` is absent for no clipping. ``layout`` 0 is
(seq, batch, ...), 1 is (batch, seq, ...). With ``sequence_lens``, steps past a sequence's length
leave its state unchanged and produce zeros in ``y``; the reverse direction runs each sequence from
its own last step. Input projections are computed for all steps at once; the recurrence loops over
time only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import BOOL, FLOAT, FLOATS, INT, STRS, one_of
from tritium.ir.dialects.nn.common import as_dtype, ttype
from tritium.ir.opdef import Op, Pure, attr, operand, opt_operand, result
from tritium.ir.types import Dim, TensorType

Act = Callable[[np.ndarray, float, float], np.ndarray]


def _sigmoid(x: np.ndarray, a: float, b: float) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


ACTIVATIONS: dict[str, Act] = {
    "Relu": lambda x, a, b: np.maximum(x, 0.0),
    "Tanh": lambda x, a, b: np.tanh(x),
    "Sigmoid": _sigmoid,
    "Affine": lambda x, a, b: a * x + b,
    "LeakyRelu": lambda x, a, b: np.where(x >= 0, x, a * x),
    "ThresholdedRelu": lambda x, a, b: np.where(x >= a, x, 0.0),
    "ScaledTanh": lambda x, a, b: a * np.tanh(b * x),
    "HardSigmoid": lambda x, a, b: np.clip(a * x + b, 0.0, 1.0),
    "Elu": lambda x, a, b: np.where(x >= 0, x, a * np.expm1(np.minimum(x, 0.0))),
    "Softsign": lambda x, a, b: x / (1.0 + np.abs(x)),
    "Softplus": lambda x, a, b: np.logaddexp(0.0, x),
}
"""The activation functions of the recurrent ops, by their ONNX names."""

ALPHA_DEFAULTS = {
    "Affine": 1.0,
    "LeakyRelu": 0.01,
    "ThresholdedRelu": 1.0,
    "ScaledTanh": 1.0,
    "HardSigmoid": 0.2,
    "Elu": 1.0,
}
BETA_DEFAULTS = {"Affine": 0.0, "ScaledTanh": 1.0, "HardSigmoid": 0.5}
"""Functions that take alpha / beta, with ONNX's default values."""


class RecurrentOp(Op):
    """Shared operands, attributes, checks and time loop of RNN, GRU and LSTM."""

    traits = (Pure,)
    x = operand(D.FLOATS)
    w = operand(D.FLOATS)
    r = operand(D.FLOATS)
    b = opt_operand(D.FLOATS)
    sequence_lens = opt_operand([D.i32])
    initial_h = opt_operand(D.FLOATS)
    y = result()
    y_h = result()
    hidden_size = attr(INT)
    direction = attr(one_of("forward", "reverse", "bidirectional"), default="forward")
    activations = attr(STRS)
    activation_alpha = attr(FLOATS)
    activation_beta = attr(FLOATS)
    clip = attr(FLOAT, default=None)
    layout = attr(INT, default=0)
    gates: ClassVar[int]
    acts_per_direction: ClassVar[int]

    @property
    def num_directions(self) -> int:
        return 2 if self.direction == "bidirectional" else 1

    def dims(self) -> tuple[Dim, Dim]:
        """(seq_length, batch_size) of ``x``."""
        x = ttype(self, self.x, "x")
        if x.shape is None:
            return None, None
        return (x.shape[0], x.shape[1]) if self.layout == 0 else (x.shape[1], x.shape[0])

    def check_shape(self, what: str, v: Any, want: tuple[Dim, ...]) -> None:
        if v is None:
            return
        t = ttype(self, v, what)
        if t.shape is None:
            return
        if len(t.shape) != len(want) or any(
            isinstance(a, int) and isinstance(b, int) and a != b for a, b in zip(t.shape, want)
        ):
            shown = "x".join("?" if d is None else str(d) for d in want)
            self.fail(f"{what} must have shape {shown}, found {t}")

    def state_shape(self) -> tuple[Dim, ...]:
        _, batch = self.dims()
        d, h = self.num_directions, self.hidden_size
        return (d, batch, h) if self.layout == 0 else (batch, d, h)

    def verify_op(self) -> None:
        x = ttype(self, self.x, "x")
        if x.shape is not None and len(x.shape) != 3:
            self.fail(f"x must have rank 3, found {x}")
        if self.hidden_size < 1:
            self.fail(f"hidden_size must be >= 1, found {self.hidden_size}")
        if self.layout not in (0, 1):
            self.fail(f"layout must be 0 or 1, found {self.layout}")
        n = self.num_directions * self.acts_per_direction
        if len(self.activations) != n:
            self.fail(
                f"expected {n} activations for direction {self.direction}, found {len(self.activations)}"
            )
        bad = [a for a in self.activations if a not in ACTIVATIONS]
        if bad:
            self.fail(f"unknown activation {bad[0]} (expected one of {', '.join(ACTIVATIONS)})")
        if len(self.activation_alpha) != n or len(self.activation_beta) != n:
            self.fail(f"activation_alpha and activation_beta must have one value per activation ({n})")
        d, h, g = self.num_directions, self.hidden_size, self.gates
        inp = x.shape[2] if x.shape is not None else None
        _, batch = self.dims()
        self.check_shape("w", self.w, (d, g * h, inp))
        self.check_shape("r", self.r, (d, g * h, h))
        self.check_shape("b", self.b, (d, 2 * g * h))
        self.check_shape("sequence_lens", self.sequence_lens, (batch,))
        self.check_shape("initial_h", self.initial_h, self.state_shape())

    def infer(self) -> list[TensorType]:
        x = ttype(self, self.x, "x")
        seq, batch = self.dims()
        d, h = self.num_directions, self.hidden_size
        y = (seq, d, batch, h) if self.layout == 0 else (batch, seq, d, h)
        state = TensorType(self.state_shape(), x.dtype)
        return [TensorType(y, x.dtype), *([state] * (len(self.RESULTS) - 1))]

    # -- reference ---------------------------------------------------------------------------------------
    def act(self, direction: int, i: int, clipped: bool = True) -> Callable[[np.ndarray], np.ndarray]:
        """Activation ``i`` of a direction; ``clip`` bounds its input unless ``clipped`` is false."""
        j = direction * self.acts_per_direction + i
        fn, a, b = ACTIVATIONS[self.activations[j]], self.activation_alpha[j], self.activation_beta[j]
        clip = self.clip
        if clip is None or not clipped:
            return lambda v: fn(v, a, b)
        return lambda v: fn(np.clip(v, -clip, clip), a, b)

    def state_in(self, v: np.ndarray | None, batch: int) -> np.ndarray:
        """An initial state as (directions, batch, hidden) float64."""
        if v is None:
            return np.zeros((self.num_directions, batch, self.hidden_size))
        v = v.astype(np.float64)
        return v if self.layout == 0 else v.transpose(1, 0, 2)

    def state_out(self, v: np.ndarray, i: int) -> np.ndarray:
        return as_dtype(v if self.layout == 0 else v.transpose(1, 0, 2), self.results[i].type)  # type: ignore[arg-type]

    def run(self, x: np.ndarray, w, r, b, lens, states: list[np.ndarray], cell) -> tuple:  # type: ignore[no-untyped-def]
        """Run ``cell(d, xw_t, states, r_d, rb_d) -> new states`` over time for each direction.
        Returns y (seq, directions, batch, hidden) and the final states."""
        xs = x.astype(np.float64)
        if self.layout == 1:
            xs = xs.transpose(1, 0, 2)
        seq, batch = xs.shape[:2]
        gh = self.gates * self.hidden_size
        lens = np.full(batch, seq, np.int64) if lens is None else lens.astype(np.int64)
        y = np.zeros((seq, self.num_directions, batch, self.hidden_size))
        rows = np.arange(batch)
        for d in range(self.num_directions):
            bias = np.zeros(2 * gh) if b is None else b[d].astype(np.float64)
            xw = xs @ w[d].astype(np.float64).T + bias[:gh]
            rd, rb = r[d].astype(np.float64), bias[gh:]
            reverse = self.direction == "reverse" or d == 1
            st = [s[d] for s in states]
            for step in range(seq):
                t = np.clip(lens - 1 - step, 0, seq - 1) if reverse else np.full(batch, step)
                active = (step < lens)[:, None]
                new = cell(d, xw[t, rows], st, rd, rb)
                st = [np.where(active, n, s) for n, s in zip(new, st)]
                y[t, d, rows] = np.where(active, new[0], y[t, d, rows])
            for s, v in zip(states, st):
                s[d] = v
        return y, states

    def y_out(self, y: np.ndarray) -> np.ndarray:
        return as_dtype(y if self.layout == 0 else y.transpose(2, 0, 1, 3), self.results[0].type)  # type: ignore[arg-type]


class RNN(RecurrentOp):
    """``H_t = f(X_t W^T + H_{t-1} R^T + Wb + Rb)``."""

    name = "nn.rnn"
    gates = 1
    acts_per_direction = 1

    def reference(self, x, w, r, b, sequence_lens, initial_h):  # type: ignore[no-untyped-def]
        batch = x.shape[1] if self.layout == 0 else x.shape[0]

        def cell(d, xw, st, rd, rb):  # type: ignore[no-untyped-def]
            return [self.act(d, 0)(xw + st[0] @ rd.T + rb)]

        y, (h,) = self.run(x, w, r, b, sequence_lens, [self.state_in(initial_h, batch)], cell)
        return self.y_out(y), self.state_out(h, 1)


class GRU(RecurrentOp):
    """Gates z, r, h (in that order in W, R and B): ``z = f(..)``, ``r = f(..)``,
    ``h~ = g(X W_h^T + (r * H) R_h^T + Rb_h + Wb_h)`` (or ``r * (H R_h^T + Rb_h)`` with
    ``linear_before_reset``), ``H = (1 - z) * h~ + z * H``."""

    name = "nn.gru"
    gates = 3
    acts_per_direction = 2
    linear_before_reset = attr(BOOL, default=False)

    def reference(self, x, w, r, b, sequence_lens, initial_h):  # type: ignore[no-untyped-def]
        batch = x.shape[1] if self.layout == 0 else x.shape[0]
        hs = self.hidden_size

        def cell(d, xw, st, rd, rb):  # type: ignore[no-untyped-def]
            h = st[0]
            f, g = self.act(d, 0), self.act(d, 1)
            z = f(xw[:, :hs] + h @ rd[:hs].T + rb[:hs])
            rg = f(xw[:, hs : 2 * hs] + h @ rd[hs : 2 * hs].T + rb[hs : 2 * hs])
            if self.linear_before_reset:
                cand = g(xw[:, 2 * hs :] + rg * (h @ rd[2 * hs :].T + rb[2 * hs :]))
            else:
                cand = g(xw[:, 2 * hs :] + (rg * h) @ rd[2 * hs :].T + rb[2 * hs :])
            return [(1.0 - z) * cand + z * h]

        y, (h,) = self.run(x, w, r, b, sequence_lens, [self.state_in(initial_h, batch)], cell)
        return self.y_out(y), self.state_out(h, 1)


class LSTM(RecurrentOp):
    """Gates i, o, f, c (in that order in W, R and B; peepholes P in order i, o, f):
    ``i = f(.. + P_i * C)``, ``f = f(.. + P_f * C)`` (``1 - i`` with ``input_forget``),
    ``C = f * C + i * g(..)``, ``o = f(.. + P_o * C_new)``, ``H = o * h(C)``. ``clip`` bounds the
    inputs of f and g (the gates), not the cell state given to h (as ONNX Runtime does)."""

    name = "nn.lstm"
    gates = 4
    acts_per_direction = 3
    initial_c = opt_operand(D.FLOATS)
    p = opt_operand(D.FLOATS)
    y_c = result()
    input_forget = attr(BOOL, default=False)

    def verify_op(self) -> None:
        super().verify_op()
        self.check_shape("initial_c", self.initial_c, self.state_shape())
        self.check_shape("p", self.p, (self.num_directions, 3 * self.hidden_size))

    def reference(self, x, w, r, b, sequence_lens, initial_h, initial_c, p):  # type: ignore[no-untyped-def]
        batch = x.shape[1] if self.layout == 0 else x.shape[0]
        hs = self.hidden_size
        peep = np.zeros((self.num_directions, 3 * hs)) if p is None else p.astype(np.float64)

        def cell(d, xw, st, rd, rb):  # type: ignore[no-untyped-def]
            h, c = st
            f, g, hact = self.act(d, 0), self.act(d, 1), self.act(d, 2, clipped=False)
            pre = xw + h @ rd.T + rb
            pi, po, pf = peep[d, :hs], peep[d, hs : 2 * hs], peep[d, 2 * hs :]
            i = f(pre[:, :hs] + pi * c)
            fg = 1.0 - i if self.input_forget else f(pre[:, 2 * hs : 3 * hs] + pf * c)
            c_new = fg * c + i * g(pre[:, 3 * hs :])
            o = f(pre[:, hs : 2 * hs] + po * c_new)
            return [o * hact(c_new), c_new]

        states = [self.state_in(initial_h, batch), self.state_in(initial_c, batch)]
        y, (h, c) = self.run(x, w, r, b, sequence_lens, states, cell)
        return self.y_out(y), self.state_out(h, 1), self.state_out(c, 2)
