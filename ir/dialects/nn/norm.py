"""Normalizations: batch, instance, layer, group, RMS, Lp, mean-variance, local response; and dropout
(the identity at inference). Statistics are computed in float64 and cast to the declared types."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import BOOL, DTYPE, FLOAT, INT, INTS
from tritium.ir.core import Value
from tritium.ir.dialects.nn.common import as_dtype, norm_axes, norm_axis, ttype
from tritium.ir.opdef import Op, Pure, SameOperandsAndResultType, attr, operand, opt_operand, result
from tritium.ir.types import Dim, TensorType


def check_channel_params(op: Op, x: TensorType, params: Sequence[tuple[str, Value]], channels: Dim) -> None:
    """Each named operand must be 1-D with ``channels`` values (when known)."""
    for what, v in params:
        t = ttype(op, v, what)
        if t.shape is None:
            continue
        if len(t.shape) != 1 or (isinstance(channels, int) and t.shape[0] not in (channels, None)):
            op.fail(f"{what} must be 1-D with {channels} values for input {x}, found {t}")


def channel_shape(x: np.ndarray) -> tuple[int, ...]:
    """Shape broadcasting a per-channel (axis 1) vector against ``x``."""
    return (1, -1, *([1] * (x.ndim - 2)))


def normalize(x: np.ndarray, axes: tuple[int, ...], eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x - mean) / sqrt(var + eps) over ``axes`` in float64, with the mean and 1/sqrt(var + eps)."""
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=axes, keepdims=True)
    d = x64 - mean
    inv = 1.0 / np.sqrt((d * d).mean(axis=axes, keepdims=True) + eps)
    return d * inv, mean, inv


class BatchNormalization(Op):
    """``(x - mean) / sqrt(var + epsilon) * scale + b`` per channel (axis 1).

    With ``training_mode`` the batch statistics are used, and ``running_mean``/``running_var`` are
    ``input * momentum + batch * (1 - momentum)`` (population variance); otherwise the given
    statistics are used and passed through unchanged."""

    name = "nn.batch_normalization"
    traits = (Pure,)
    x = operand(D.FLOATS)
    scale = operand(D.FLOATS)
    b = operand(D.FLOATS)
    input_mean = operand(D.FLOATS)
    input_var = operand(D.FLOATS)
    out = result()
    running_mean = result()
    running_var = result()
    epsilon = attr(FLOAT, default=1e-5)
    momentum = attr(FLOAT, default=0.9)
    training_mode = attr(BOOL, default=False)

    def verify_op(self) -> None:
        x = ttype(self, self.x, "x")
        c = None if x.shape is None else (x.shape[1] if len(x.shape) > 1 else 1)
        check_channel_params(
            self,
            x,
            [
                ("scale", self.scale),
                ("b", self.b),
                ("input_mean", self.input_mean),
                ("input_var", self.input_var),
            ],
            c,
        )

    def infer(self) -> list[TensorType]:
        return [
            ttype(self, self.x, "x"),
            ttype(self, self.input_mean, "input_mean"),
            ttype(self, self.input_var, "input_var"),
        ]

    def reference(self, x, scale, b, mean, var):  # type: ignore[no-untyped-def]
        x2 = x.reshape(x.shape[0], 1) if x.ndim == 1 else x
        cs = channel_shape(x2)
        axes = tuple(i for i in range(x2.ndim) if i != 1)
        x64 = x2.astype(np.float64)
        if self.training_mode:
            cur_mean = x64.mean(axis=axes)
            cur_var = ((x64 - cur_mean.reshape(cs)) ** 2).mean(axis=axes)
            m = self.momentum
            new_mean = mean.astype(np.float64) * m + cur_mean * (1 - m)
            new_var = var.astype(np.float64) * m + cur_var * (1 - m)
        else:
            cur_mean, cur_var, new_mean, new_var = mean.astype(np.float64), var.astype(np.float64), mean, var
        y = (x64 - cur_mean.reshape(cs)) / np.sqrt(cur_var.reshape(cs) + self.epsilon)
        y = y * scale.astype(np.float64).reshape(cs) + b.astype(np.float64).reshape(cs)
        rt = self.results
        return (
            as_dtype(y.reshape(x.shape), rt[0].type),  # type: ignore[arg-type]
            as_dtype(np.asarray(new_mean), rt[1].type),  # type: ignore[arg-type]
            as_dtype(np.asarray(new_var), rt[2].type),  # type: ignore[arg-type]
        )


class InstanceNormalization(Op):
    """``(x - mean) / sqrt(var + epsilon) * scale + b`` with statistics per sample and channel."""

    name = "nn.instance_normalization"
    traits = (Pure,)
    x = operand(D.FLOATS)
    scale = operand(D.FLOATS)
    b = operand(D.FLOATS)
    out = result()
    epsilon = attr(FLOAT, default=1e-5)

    def verify_op(self) -> None:
        x = ttype(self, self.x, "x")
        if x.shape is not None and len(x.shape) < 3:
            self.fail(f"input must have rank >= 3 (N, C, D1, ...), found {x}")
        check_channel_params(self, x, [("scale", self.scale), ("b", self.b)], x.shape[1] if x.shape else None)

    def infer(self) -> TensorType:
        return ttype(self, self.x, "x")

    def reference(self, x: np.ndarray, scale: np.ndarray, b: np.ndarray) -> np.ndarray:
        y, _, _ = normalize(x, tuple(range(2, x.ndim)), self.epsilon)
        cs = channel_shape(x)
        y = y * scale.astype(np.float64).reshape(cs) + b.astype(np.float64).reshape(cs)
        return as_dtype(y, self.results[0].type)  # type: ignore[arg-type]


def check_unidirectional(op: Op, x: TensorType, what: str, v: Value) -> None:
    """``v`` must broadcast to ``x`` without changing x's shape."""
    t = ttype(op, v, what)
    if x.shape is None or t.shape is None:
        return
    if len(t.shape) > len(x.shape):
        op.fail(f"{what} {t} has a higher rank than the input {x}")
    for a, b in zip(reversed(t.shape), reversed(x.shape)):
        if isinstance(a, int) and isinstance(b, int) and a not in (1, b):
            op.fail(f"{what} {t} does not broadcast to the input {x}")


class LayerNormalization(Op):
    """Normalize over axes ``[axis, rank)``, then ``* scale + b`` (broadcast). ``mean`` and
    ``inv_std_dev`` (type ``stash_type``) keep the reduced axes as 1s."""

    name = "nn.layer_normalization"
    traits = (Pure,)
    x = operand(D.FLOATS)
    scale = operand(D.FLOATS)
    b = opt_operand(D.FLOATS)
    out = result()
    mean = result()
    inv_std_dev = result()
    axis = attr(INT, default=-1)
    epsilon = attr(FLOAT, default=1e-5)
    stash_type = attr(DTYPE, default=D.f32)

    def verify_op(self) -> None:
        x = ttype(self, self.x, "x")
        if not self.stash_type.is_float:
            self.fail(f"stash_type must be a float type, found {self.stash_type}")
        if x.shape is not None:
            norm_axis(self, self.axis, len(x.shape))
        check_unidirectional(self, x, "scale", self.scale)
        if self.b is not None:
            check_unidirectional(self, x, "b", self.b)

    def infer(self) -> list[TensorType]:
        x = ttype(self, self.x, "x")
        if x.shape is None:
            stats = TensorType(None, self.stash_type)
        else:
            a = norm_axis(self, self.axis, len(x.shape))
            stats = TensorType((*x.shape[:a], *([1] * (len(x.shape) - a))), self.stash_type)
        return [x, stats, stats]

    def reference(self, x, scale, b):  # type: ignore[no-untyped-def]
        a = self.axis % x.ndim
        y, mean, inv = normalize(x, tuple(range(a, x.ndim)), self.epsilon)
        y = y * scale.astype(np.float64)
        if b is not None:
            y = y + b.astype(np.float64)
        rt = self.results
        return (
            as_dtype(y, rt[0].type),  # type: ignore[arg-type]
            as_dtype(mean, rt[1].type),  # type: ignore[arg-type]
            as_dtype(inv, rt[2].type),  # type: ignore[arg-type]
        )


class GroupNormalization(Op):
    """Normalize each sample over groups of ``C / num_groups`` channels (and all spatial axes), then
    ``* scale + bias`` per channel (ONNX opset 21)."""

    name = "nn.group_normalization"
    traits = (Pure,)
    x = operand(D.FLOATS)
    scale = operand(D.FLOATS)
    bias = operand(D.FLOATS)
    out = result()
    num_groups = attr(INT)
    epsilon = attr(FLOAT, default=1e-5)
    stash_type = attr(DTYPE, default=D.f32)

    def verify_op(self) -> None:
        x = ttype(self, self.x, "x")
        if self.num_groups < 1:
            self.fail(f"num_groups must be >= 1, found {self.num_groups}")
        if x.shape is not None:
            if len(x.shape) < 2:
                self.fail(f"input must have rank >= 2 (N, C, ...), found {x}")
            c = x.shape[1]
            if isinstance(c, int) and c % self.num_groups:
                self.fail(f"{c} channels are not divisible by num_groups {self.num_groups}")
        check_channel_params(
            self, x, [("scale", self.scale), ("bias", self.bias)], x.shape[1] if x.shape else None
        )

    def infer(self) -> TensorType:
        return ttype(self, self.x, "x")

    def reference(self, x: np.ndarray, scale: np.ndarray, bias: np.ndarray) -> np.ndarray:
        g = x.reshape(x.shape[0], self.num_groups, -1)
        y, _, _ = normalize(g, (2,), self.epsilon)
        cs = channel_shape(x)
        y = y.reshape(x.shape) * scale.astype(np.float64).reshape(cs) + bias.astype(np.float64).reshape(cs)
        return as_dtype(y, self.results[0].type)  # type: ignore[arg-type]


class RMSNormalization(Op):
    """``x / sqrt(mean(x^2 over [axis, rank)) + epsilon) * scale``; the result has scale's type."""

    name = "nn.rms_normalization"
    traits = (Pure,)
    x = operand(D.FLOATS)
    scale = operand(D.FLOATS)
    out = result()
    axis = attr(INT, default=-1)
    epsilon = attr(FLOAT, default=1e-5)
    stash_type = attr(DTYPE, default=D.f32)

    def verify_op(self) -> None:
        x = ttype(self, self.x, "x")
        if x.shape is not None:
            norm_axis(self, self.axis, len(x.shape))
        check_unidirectional(self, x, "scale", self.scale)

    def infer(self) -> TensorType:
        return TensorType(ttype(self, self.x, "x").shape, ttype(self, self.scale, "scale").dtype)

    def reference(self, x: np.ndarray, scale: np.ndarray) -> np.ndarray:
        x64 = x.astype(np.float64)
        axes = tuple(range(self.axis % x.ndim, x.ndim))
        rms = np.sqrt((x64 * x64).mean(axis=axes, keepdims=True) + self.epsilon)
        return as_dtype(x64 / rms * scale.astype(np.float64), self.results[0].type)  # type: ignore[arg-type]


class LpNormalization(Op):
    """``x / ||x||_p`` along ``axis`` (p is 1 or 2); zero where the norm is zero."""

    name = "nn.lp_normalization"
    traits = (Pure, SameOperandsAndResultType)
    x = operand(D.FLOATS)
    out = result()
    axis = attr(INT, default=-1)
    p = attr(INT, default=2)

    def verify_op(self) -> None:
        x = ttype(self, self.x, "x")
        if self.p not in (1, 2):
            self.fail(f"p must be 1 or 2, found {self.p}")
        if x.shape is not None:
            norm_axis(self, self.axis, len(x.shape))

    def reference(self, x: np.ndarray) -> np.ndarray:
        x64 = x.astype(np.float64)
        a = np.abs(x64)
        norm = (
            a.sum(axis=self.axis, keepdims=True)
            if self.p == 1
            else np.sqrt((a * a).sum(axis=self.axis, keepdims=True))
        )
        safe = np.where(norm == 0, 1.0, norm)
        return as_dtype(np.where(norm == 0, 0.0, x64 / safe), self.results[0].type)  # type: ignore[arg-type]


class MeanVarianceNormalization(Op):
    """``(x - mean) / (sqrt(var) + 1e-9)`` with mean and population variance over ``axes``."""

    name = "nn.mean_variance_normalization"
    traits = (Pure, SameOperandsAndResultType)
    x = operand(D.FLOATS)
    out = result()
    axes = attr(INTS, default=(0, 2, 3))

    def verify_op(self) -> None:
        x = ttype(self, self.x, "x")
        if x.shape is not None:
            norm_axes(self, self.axes, len(x.shape))

    def reference(self, x: np.ndarray) -> np.ndarray:
        axes = tuple(a % x.ndim for a in self.axes)
        x64 = x.astype(np.float64)
        d = x64 - x64.mean(axis=axes, keepdims=True)
        std = np.sqrt((d * d).mean(axis=axes, keepdims=True))
        return as_dtype(d / (std + 1e-9), self.results[0].type)  # type: ignore[arg-type]


class LRN(Op):
    """Local response normalization across channels: ``x / (bias + alpha / size * sum x^2) ^ beta``
    where the sum runs over channels ``[c - floor((size-1)/2), c + ceil((size-1)/2)]``."""

    name = "nn.lrn"
    traits = (Pure, SameOperandsAndResultType)
    x = operand(D.FLOATS)
    out = result()
    size = attr(INT)
    alpha = attr(FLOAT, default=1e-4)
    beta = attr(FLOAT, default=0.75)
    bias = attr(FLOAT, default=1.0)

    def verify_op(self) -> None:
        x = ttype(self, self.x, "x")
        if self.size < 1:
            self.fail(f"size must be >= 1, found {self.size}")
        if x.shape is not None and len(x.shape) < 2:
            self.fail(f"input must have rank >= 2 (N, C, ...), found {x}")

    def reference(self, x: np.ndarray) -> np.ndarray:
        x64 = x.astype(np.float64)
        before, after = (self.size - 1) // 2, self.size // 2
        sq = np.pad(x64 * x64, [(0, 0), (before, after)] + [(0, 0)] * (x.ndim - 2))
        c = x.shape[1]
        total = sum(sq[:, i : i + c] for i in range(self.size))
        y = x64 / (self.bias + self.alpha / self.size * total) ** self.beta
        return as_dtype(y, self.results[0].type)  # type: ignore[arg-type]


class Dropout(Op):
    """The identity with an all-true ``mask``, as at inference. ``training_mode`` true with a
    non-zero ``ratio`` (default 0.5) drops random elements, which this op does not do: it fails."""

    name = "nn.dropout"
    traits = (Pure,)
    x = operand(D.FLOATS)
    ratio = opt_operand(D.FLOATS)
    training_mode = opt_operand([D.bool_])
    out = result()
    mask = result()
    seed = attr(INT, default=None)

    def verify_op(self) -> None:
        for what, v in (("ratio", self.ratio), ("training_mode", self.training_mode)):
            if v is not None:
                t = ttype(self, v, what)
                if t.shape is not None and len(t.shape) != 0:
                    self.fail(f"{what} must be a scalar, found {t}")
        if self.training_mode is not None and self.ratio is not None:
            t, r = self.const(self.training_mode), self.const(self.ratio)
            if t is not None and r is not None and bool(t) and float(r) != 0.0:
                self.fail(f"training-mode dropout with ratio {float(r)} is random and not supported")

    def infer(self) -> list[TensorType]:
        x = ttype(self, self.x, "x")
        return [x, TensorType(x.shape, D.bool_)]

    def reference(self, x, ratio, training_mode):  # type: ignore[no-untyped-def]
        r = 0.5 if ratio is None else float(ratio)
        if training_mode is not None and bool(training_mode) and r != 0.0:
            raise ValueError(f"training-mode dropout with ratio {r} is random and not supported")
        return x, np.ones(x.shape, np.bool_)

    def fold(self) -> list[Value | np.ndarray] | None:
        t = self.const(self.training_mode) if self.training_mode is not None else np.asarray(False)
        x = ttype(self, self.x, "x")
        if t is None or bool(t) or not x.is_static:
            return None
        return [self.x, np.ones(x.shape, np.bool_)]  # type: ignore[arg-type]
