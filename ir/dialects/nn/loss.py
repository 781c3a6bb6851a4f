"""Losses. SoftmaxCrossEntropyLoss is ``nn.log_softmax`` (axis 1) followed by this op."""

from __future__ import annotations

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import INT, one_of
from tritium.ir.dialects.nn.common import as_dtype, ttype
from tritium.ir.opdef import Op, Pure, attr, operand, opt_operand, result
from tritium.ir.types import TensorType


class NegativeLogLikelihoodLoss(Op):
    """ONNX NegativeLogLikelihoodLoss: ``loss[n, d...] = -input[n, target[n, d...], d...] * w``.

    ``input`` is (N, C, d1, ...) (log-probabilities), ``target`` (N, d1, ...) holds class indices,
    ``w = weight[target]`` (1 without ``weight``) and 0 where ``target == ignore_index``.
    ``reduction``: "none" keeps the per-element losses, "sum" adds them, "mean" divides that sum by
    the sum of the ``w``."""

    name = "nn.negative_log_likelihood_loss"
    traits = (Pure,)
    input = operand(D.FLOATS)
    target = operand([D.i32, D.i64])
    weight = opt_operand(D.FLOATS)
    out = result()
    reduction = attr(one_of("none", "sum", "mean"), default="mean")
    ignore_index = attr(INT, default=None)

    def infer(self) -> TensorType:
        x, t = ttype(self, self.input, "input"), ttype(self, self.target, "target")
        if x.rank is not None and x.rank < 2:
            self.fail(f"input must be (N, C, ...), found {x}")
        if x.rank is not None and t.rank is not None and t.rank != x.rank - 1:
            self.fail(f"target {t} must have rank {x.rank - 1} for input {x}")
        if x.shape is not None and t.shape is not None:
            for i, (a, b) in enumerate(zip((x.shape[0], *x.shape[2:]), t.shape)):
                if isinstance(a, int) and isinstance(b, int) and a != b:
                    self.fail(f"target {t} does not match input {x} at dim {i}")
        if self.weight is not None:
            w = ttype(self, self.weight, "weight")
            if w.dtype != x.dtype or w.rank not in (None, 1):
                self.fail(f"weight must be a 1-D {x.dtype} tensor, found {w}")
            if x.shape is not None and w.shape is not None:
                c, n = x.shape[1], w.shape[0]
                if isinstance(c, int) and isinstance(n, int) and c != n:
                    self.fail(f"weight has {n} entries for {c} classes")
        if self.reduction == "none":
            shape = None if x.shape is None else (x.shape[0], *x.shape[2:])
            return TensorType(shape if shape is not None else t.shape, x.dtype)
        return TensorType((), x.dtype)

    def reference(self, input: np.ndarray, target: np.ndarray, weight: np.ndarray | None) -> np.ndarray:
        t = target.astype(np.int64)
        keep = np.ones(t.shape, bool) if self.ignore_index is None else t != self.ignore_index
        safe = np.where(keep, t, 0)
        classes = input.shape[1]
        if np.any((safe < 0) | (safe >= classes)):
            raise ValueError(f"target holds a class index outside [0, {classes})")
        picked = np.take_along_axis(input.astype(np.float64), safe[:, None], axis=1)[:, 0]
        w = np.ones(t.shape) if weight is None else weight.astype(np.float64)[safe]
        w = np.where(keep, w, 0.0)
        loss = -picked * w
        if self.reduction == "none":
            y = loss
        elif self.reduction == "sum":
            y = np.sum(loss)
        else:
            with np.errstate(all="ignore"):
                y = np.sum(loss) / np.sum(w)
        return as_dtype(np.asarray(y), self.results[0].type)
