"""Activations: elementwise nonlinearities with attributes, PRelu (a slope operand) and Clip (optional
bounds). Relu and Sigmoid live in ``elementwise.py``.

Floats are computed in float64 and cast back to the input type.
"""

from __future__ import annotations

import math

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import FLOAT, one_of
from tritium.ir.dialects.nn.common import as_dtype, broadcast_shapes, ttype
from tritium.ir.dialects.nn.elementwise import UnaryOp, wide
from tritium.ir.opdef import Elementwise, Op, Pure, attr, operand, opt_operand, result
from tritium.ir.types import TensorType


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


class Elu(UnaryOp):
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""

    name = "nn.elu"
    x = operand(D.FLOATS)
    alpha = attr(FLOAT, default=1.0)

    def compute(self, x: np.ndarray) -> np.ndarray:
        x = wide(x)
        return np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0)))


class Celu(UnaryOp):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""

    name = "nn.celu"
    x = operand(D.FLOATS)
    alpha = attr(FLOAT, default=1.0)

    def verify_op(self) -> None:
        if self.alpha == 0:
            self.fail("alpha must not be 0")

    def compute(self, x: np.ndarray) -> np.ndarray:
        x, a = wide(x), self.alpha
        return np.maximum(x, 0) + np.minimum(0, a * np.expm1(np.minimum(x, 0) / a))


class Selu(UnaryOp):
    """gamma * x for x > 0, gamma * alpha * (exp(x) - 1) otherwise."""

    name = "nn.selu"
    x = operand(D.FLOATS)
    alpha = attr(FLOAT, default=1.6732632423543772)
    gamma = attr(FLOAT, default=1.0507009873554805)

    def compute(self, x: np.ndarray) -> np.ndarray:
        x = wide(x)
        return self.gamma * np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0)))


class LeakyRelu(UnaryOp):
    """max(x, 0) + alpha * min(x, 0)"""

    name = "nn.leaky_relu"
    x = operand(D.FLOATS)
    alpha = attr(FLOAT, default=0.01)

    def compute(self, x: np.ndarray) -> np.ndarray:
        x = wide(x)
        return np.where(x >= 0, x, x * self.alpha)


class ThresholdedRelu(UnaryOp):
    """x for x > alpha, 0 otherwise."""

    name = "nn.thresholded_relu"
    x = operand(D.FLOATS)
    alpha = attr(FLOAT, default=1.0)

    def compute(self, x: np.ndarray) -> np.ndarray:
        x = wide(x)
        return np.where(x > self.alpha, x, 0.0)


class HardSigmoid(UnaryOp):
    """max(0, min(1, alpha * x + beta))"""

    name = "nn.hard_sigmoid"
    x = operand(D.FLOATS)
    alpha = attr(FLOAT, default=0.2)
    beta = attr(FLOAT, default=0.5)

    def compute(self, x: np.ndarray) -> np.ndarray:
        return np.clip(self.alpha * wide(x) + self.beta, 0.0, 1.0)


class HardSwish(UnaryOp):
    """x * max(0, min(1, x / 6 + 0.5))"""

    name = "nn.hard_swish"
    x = operand(D.FLOATS)

    def compute(self, x: np.ndarray) -> np.ndarray:
        x = wide(x)
        return x * np.clip(x / 6.0 + 0.5, 0.0, 1.0)


class Softplus(UnaryOp):
    """log(1 + exp(x)), computed without overflow."""

    name = "nn.softplus"
    x = operand(D.FLOATS)
    fn = staticmethod(_softplus)


class Softsign(UnaryOp):
    """x / (1 + |x|)"""

    name = "nn.softsign"
    x = operand(D.FLOATS)
    fn = staticmethod(lambda x: x / (1.0 + np.abs(x)))


class Gelu(UnaryOp):
    """0.5 * x * (1 + erf(x / sqrt(2))), or with ``approximate = "tanh"``
    0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))."""

    name = "nn.gelu"
    x = operand(D.FLOATS)
    approximate = attr(one_of("none", "tanh"), default="none")

    def compute(self, x: np.ndarray) -> np.ndarray:
        x = wide(x)
        if self.approximate == "tanh":
            return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
        erf = np.vectorize(math.erf, otypes=[np.float64])(x / math.sqrt(2.0)) if x.size else x
        return 0.5 * x * (1.0 + erf)


class Mish(UnaryOp):
    """x * tanh(softplus(x))"""

    name = "nn.mish"
    x = operand(D.FLOATS)
    fn = staticmethod(lambda x: x * np.tanh(_softplus(x)))


class Swish(UnaryOp):
    """x * sigmoid(alpha * x)"""

    name = "nn.swish"
    x = operand(D.FLOATS)
    alpha = attr(FLOAT, default=1.0)

    def compute(self, x: np.ndarray) -> np.ndarray:
        x = wide(x)
        return x / (1.0 + np.exp(-self.alpha * x))


class Shrink(UnaryOp):
    """x + bias for x < -lambd, x - bias for x > lambd, 0 otherwise (any numeric type)."""

    name = "nn.shrink"
    x = operand(D.NUMERIC)
    lambd = attr(FLOAT, default=0.5)
    bias = attr(FLOAT, default=0.0)

    def compute(self, x: np.ndarray) -> np.ndarray:
        x = wide(x).astype(np.float64)
        return np.where(x < -self.lambd, x + self.bias, np.where(x > self.lambd, x - self.bias, 0.0))


class PRelu(Op):
    """x for x >= 0, slope * x otherwise; ``slope`` broadcasts to x's shape (unidirectionally)."""

    name = "nn.prelu"
    traits = (Pure, Elementwise)
    x = operand(D.NUMERIC)
    slope = operand(D.NUMERIC)
    out = result()

    def infer(self) -> TensorType:
        x, s = ttype(self, self.x, "x"), ttype(self, self.slope, "slope")
        if s.dtype != x.dtype:
            self.fail(f"slope has element type {s.dtype}, expected x's {x.dtype}")
        _unidirectional(self, x, s, "slope")
        return x

    def reference(self, x: np.ndarray, slope: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            xw = wide(x)
            y = np.where(xw < 0, xw * wide(slope), xw)
        return as_dtype(np.broadcast_to(y, x.shape), self.results[0].type)


def _unidirectional(op: Op, x: TensorType, other: TensorType, what: str) -> None:
    """``other`` must broadcast to ``x``'s shape without changing it."""
    if x.shape is None or other.shape is None:
        return
    if len(other.shape) > len(x.shape):
        op.fail(f"{what} {other} has a higher rank than x {x}")
    out = broadcast_shapes(op, x.shape, other.shape)
    for d, o in zip(x.shape, out or ()):
        if isinstance(d, int) and isinstance(o, int) and d != o:
            op.fail(f"{what} {other} does not broadcast to x {x} (it would grow it)")


class Clip(Op):
    """min(max(x, min), max): bounds are optional operands (a scalar or a shape that broadcasts to
    x); when min > max every value becomes max."""

    name = "nn.clip"
    traits = (Pure, Elementwise)
    x = operand(D.NUMERIC)
    min = opt_operand(D.NUMERIC)
    max = opt_operand(D.NUMERIC)
    out = result()

    def infer(self) -> TensorType:
        x = ttype(self, self.x, "x")
        for what, v in (("min", self.min), ("max", self.max)):
            if v is not None:
                t = ttype(self, v, what)
                if t.dtype != x.dtype:
                    self.fail(f"{what} has element type {t.dtype}, expected x's {x.dtype}")
                _unidirectional(self, x, t, what)
        return x

    def reference(self, x: np.ndarray, lo: np.ndarray | None, hi: np.ndarray | None) -> np.ndarray:
        y = x
        if lo is not None:
            y = np.maximum(wide(y), wide(lo))
        if hi is not None:
            y = np.minimum(wide(y), wide(hi))
        return as_dtype(np.broadcast_to(np.asarray(y), x.shape), self.results[0].type)
