"""The softmax family along one axis: softmax, log-softmax and hardmax (ONNX opset 13 semantics).

Older opsets flatten the input to 2-D around the axis; the ONNX converter rewrites them to this form.
"""

from __future__ import annotations

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import INT
from tritium.ir.dialects.nn.common import as_dtype, norm_axis, ttype
from tritium.ir.opdef import Op, Pure, SameOperandsAndResultType, attr, operand, result


class AxisOp(Op):
    """A normalization along ``axis``; the result has the input's type."""

    traits = (Pure, SameOperandsAndResultType)
    x = operand(D.FLOATS)
    out = result()
    axis = attr(INT, default=-1)

    def verify_op(self) -> None:
        x = ttype(self, self.x, "x")
        if x.shape is not None:
            if len(x.shape) == 0:
                self.fail("x must have rank >= 1")
            norm_axis(self, self.axis, len(x.shape))


def _shifted(op: AxisOp, x: np.ndarray) -> np.ndarray:
    """``x - max(x)`` along the axis, in f32 (f64 for f64 inputs), as ONNX's formula (and
    onnxruntime, and the generated row kernels) compute it: a row holding +inf, or only -inf, gives
    NaNs. Computing in the input's own f32 precision matches what f32 graphs do elsewhere."""
    xc = x.astype(np.float64 if x.dtype == np.float64 else np.float32)
    with np.errstate(invalid="ignore"):
        return xc - np.max(xc, axis=op.axis, keepdims=True)


class Softmax(AxisOp):
    """``exp(x - max) / sum(exp(x - max))`` along ``axis``."""

    name = "nn.softmax"

    def reference(self, x: np.ndarray) -> np.ndarray:
        e = np.exp(_shifted(self, x))
        with np.errstate(all="ignore"):
            return as_dtype(e / np.sum(e, axis=self.axis, keepdims=True), self.results[0].type)


class LogSoftmax(AxisOp):
    """``(x - max) - log(sum(exp(x - max)))`` along ``axis``."""

    name = "nn.log_softmax"

    def reference(self, x: np.ndarray) -> np.ndarray:
        s = _shifted(self, x)
        with np.errstate(all="ignore"):
            y = s - np.log(np.sum(np.exp(s), axis=self.axis, keepdims=True))
        return as_dtype(y, self.results[0].type)


class Hardmax(AxisOp):
    """1 at the first maximum along ``axis``, 0 elsewhere."""

    name = "nn.hardmax"

    def reference(self, x: np.ndarray) -> np.ndarray:
        a = self.axis % x.ndim
        idx = np.expand_dims(np.argmax(x, axis=a), a)
        positions = np.arange(x.shape[a]).reshape([-1 if i == a else 1 for i in range(x.ndim)])
        return as_dtype((positions == idx).astype(np.float64), self.results[0].type)
