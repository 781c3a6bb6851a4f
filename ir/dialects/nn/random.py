"""Random tensors: normal and uniform draws, Bernoulli trials, multinomial sampling.

These ops are not pure: each run draws new values, unless ``seed`` is given, which makes the draws
repeatable (numpy's default generator seeded from the seed's bits; ONNX does not fix a generator,
so values differ from other runtimes' even with a seed).
"""

from __future__ import annotations

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import DTYPE, FLOAT, INT, INTS
from tritium.ir.dialects.nn.common import ttype
from tritium.ir.opdef import Op, attr, operand, result
from tritium.ir.types import TensorType


def generator(seed: float | None) -> np.random.Generator:
    if seed is None:
        return np.random.default_rng()
    return np.random.default_rng(int(np.float64(seed).view(np.uint64)))


def _float_dtype(op: Op, dt: D.DType) -> None:
    if not dt.is_float:
        op.fail(f"dtype must be a float type, found {dt}")


class RandomNormal(Op):
    """A tensor of ``shape`` drawn from the normal distribution N(mean, scale^2)."""

    name = "nn.random_normal"
    out = result()
    shape = attr(INTS)
    dtype = attr(DTYPE, default=D.f32)
    mean = attr(FLOAT, default=0.0)
    scale = attr(FLOAT, default=1.0)
    seed = attr(FLOAT, default=None)

    def infer(self) -> TensorType:
        return TensorType(tuple(self.shape), self.dtype)

    def verify_op(self) -> None:
        _float_dtype(self, self.dtype)
        if any(d < 0 for d in self.shape):
            self.fail(f"shape {list(self.shape)} has a negative dimension")

    def reference(self) -> np.ndarray:
        g = generator(self.seed)
        return g.normal(self.mean, self.scale, tuple(self.shape)).astype(self.dtype.np_dtype)


class RandomUniform(Op):
    """A tensor of ``shape`` drawn uniformly from [low, high)."""

    name = "nn.random_uniform"
    out = result()
    shape = attr(INTS)
    dtype = attr(DTYPE, default=D.f32)
    low = attr(FLOAT, default=0.0)
    high = attr(FLOAT, default=1.0)
    seed = attr(FLOAT, default=None)

    def infer(self) -> TensorType:
        return TensorType(tuple(self.shape), self.dtype)

    def verify_op(self) -> None:
        _float_dtype(self, self.dtype)
        if any(d < 0 for d in self.shape):
            self.fail(f"shape {list(self.shape)} has a negative dimension")
        if self.high < self.low:
            self.fail(f"high {self.high} is below low {self.low}")

    def reference(self) -> np.ndarray:
        g = generator(self.seed)
        return g.uniform(self.low, self.high, tuple(self.shape)).astype(self.dtype.np_dtype)


class RandomNormalLike(Op):
    """Like nn.random_normal, with the shape of ``x``."""

    name = "nn.random_normal_like"
    x = operand()
    out = result()
    dtype = attr(DTYPE)
    mean = attr(FLOAT, default=0.0)
    scale = attr(FLOAT, default=1.0)
    seed = attr(FLOAT, default=None)

    def infer(self) -> TensorType:
        return TensorType(ttype(self, self.x).shape, self.dtype)

    def verify_op(self) -> None:
        _float_dtype(self, self.dtype)

    def reference(self, x: np.ndarray) -> np.ndarray:
        return generator(self.seed).normal(self.mean, self.scale, x.shape).astype(self.dtype.np_dtype)


class RandomUniformLike(Op):
    """Like nn.random_uniform, with the shape of ``x``."""

    name = "nn.random_uniform_like"
    x = operand()
    out = result()
    dtype = attr(DTYPE)
    low = attr(FLOAT, default=0.0)
    high = attr(FLOAT, default=1.0)
    seed = attr(FLOAT, default=None)

    def infer(self) -> TensorType:
        return TensorType(ttype(self, self.x).shape, self.dtype)

    def verify_op(self) -> None:
        _float_dtype(self, self.dtype)
        if self.high < self.low:
            self.fail(f"high {self.high} is below low {self.low}")

    def reference(self, x: np.ndarray) -> np.ndarray:
        return generator(self.seed).uniform(self.low, self.high, x.shape).astype(self.dtype.np_dtype)


class Bernoulli(Op):
    """1 with probability ``x`` (elementwise, in [0, 1]), else 0, in element type ``dtype``."""

    name = "nn.bernoulli"
    x = operand(D.FLOATS)
    out = result()
    dtype = attr(DTYPE)
    seed = attr(FLOAT, default=None)

    def infer(self) -> TensorType:
        return TensorType(ttype(self, self.x).shape, self.dtype)

    def verify_op(self) -> None:
        if self.dtype.kind not in ("float", "int", "uint", "bool"):
            self.fail(f"dtype must be numeric or bool, found {self.dtype}")

    def reference(self, x: np.ndarray) -> np.ndarray:
        p = x.astype(np.float64)
        if ((p < 0) | (p > 1)).any():
            raise ValueError("probabilities must lie in [0, 1]")
        draws = generator(self.seed).random(x.shape)
        return (draws < p).astype(self.dtype.np_dtype)


class Multinomial(Op):
    """``sample_size`` class indices per row of ``x`` [batch, classes], drawn with replacement from
    the distribution whose unnormalized log-probabilities are the row."""

    name = "nn.multinomial"
    x = operand(D.FLOATS)
    out = result()
    dtype = attr(DTYPE, default=D.i32)
    sample_size = attr(INT, default=1)
    seed = attr(FLOAT, default=None)

    def infer(self) -> TensorType:
        t = ttype(self, self.x)
        if t.shape is not None and len(t.shape) != 2:
            self.fail(f"x must be [batch, classes], found {t}")
        return TensorType((t.shape[0] if t.shape else None, self.sample_size), self.dtype)

    def verify_op(self) -> None:
        if self.dtype not in (D.i32, D.i64):
            self.fail(f"dtype must be i32 or i64, found {self.dtype}")
        if self.sample_size < 1:
            self.fail(f"sample_size must be positive, found {self.sample_size}")

    def reference(self, x: np.ndarray) -> np.ndarray:
        logits = x.astype(np.float64)
        top = logits.max(axis=1, keepdims=True)
        if not np.isfinite(top).all():
            raise ValueError("each row needs a finite log-probability")
        p = np.exp(logits - top)
        p /= p.sum(axis=1, keepdims=True)
        g = generator(self.seed)
        rows = [g.choice(x.shape[1], size=self.sample_size, p=row) for row in p]
        return np.array(rows, dtype=self.dtype.np_dtype).reshape(x.shape[0], self.sample_size)
