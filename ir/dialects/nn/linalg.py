"""Matrix products."""

from __future__ import annotations

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.dialects.nn.common import as_dtype, broadcast_shapes, ttype
from tritium.ir.opdef import Op, Pure, SameOperandsElementType, operand, result
from tritium.ir.types import TensorType


class MatMul(Op):
    """numpy.matmul: 1-D operands are promoted and the batch dimensions broadcast (ONNX MatMul)."""

    name = "nn.matmul"
    traits = (Pure, SameOperandsElementType)
    a = operand(D.NUMERIC)
    b = operand(D.NUMERIC)
    out = result()

    def infer(self) -> TensorType:
        a, b = ttype(self, self.a, "a"), ttype(self, self.b, "b")
        if a.shape is None or b.shape is None:
            return TensorType(None, a.dtype)
        if len(a.shape) == 0 or len(b.shape) == 0:
            self.fail("operands must have rank >= 1")
        sa = (1, *a.shape) if len(a.shape) == 1 else a.shape
        sb = (*b.shape, 1) if len(b.shape) == 1 else b.shape
        k1, k2 = sa[-1], sb[-2]
        if isinstance(k1, int) and isinstance(k2, int) and k1 != k2:
            self.fail(f"contraction dimensions differ: a is {a} (K={k1}), b is {b} (K={k2})")
        batch = broadcast_shapes(self, sa[:-2], sb[:-2])
        out = (*batch, sa[-2], sb[-1])  # type: ignore[misc]
        if len(a.shape) == 1:
            out = out[:-2] + out[-1:]
        if len(b.shape) == 1:
            out = out[:-1]
        return TensorType(out, a.dtype)

    def reference(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.dtype.kind == "f" and a.dtype.itemsize < 4:
            return as_dtype(np.matmul(a.astype(np.float32), b.astype(np.float32)), self.results[0].type)
        return as_dtype(np.matmul(a, b), self.results[0].type)
