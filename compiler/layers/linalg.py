"""Matrix multiply, reductions, softmax, normalization, top-k and einsum layers."""

from __future__ import annotations

import numpy as np

from tritium.enums import (
    LayerType,
    MatrixOperation,
    ReduceOperation,
    TopKOperation,
)
from tritium.ir.core import Value
from tritium.ir.dialects import nn
from tritium.layers.base import ILayer, _default_axis, _Emitter, axes_of, param


class IMatrixMultiplyLayer(ILayer):
    type = LayerType.MATRIX_MULTIPLY
    op0 = param("op0")
    op1 = param("op1")

    def _emit(self, e: _Emitter) -> list[Value]:
        vals = []
        for i, key in ((0, "op0"), (1, "op1")):
            v = self._input(i)
            op = MatrixOperation(self._params[key])
            if op == MatrixOperation.TRANSPOSE:
                r = self._rank(v)
                if r < 2:
                    raise e.fail(f"input #{i} has rank {r}: TRANSPOSE needs a matrix")
                v = e.value(nn.Transpose, v, perm=(*range(r - 2), r - 1, r - 2))
            elif op == MatrixOperation.VECTOR and self._rank(v) != 1:
                raise e.fail(f"input #{i} is {v.type}: VECTOR needs a rank-1 tensor")
            vals.append(v)
        return [e.value(nn.MatMul, *vals)]


_REDUCE = {
    ReduceOperation.SUM: nn.ReduceSum,
    ReduceOperation.PROD: nn.ReduceProd,
    ReduceOperation.MAX: nn.ReduceMax,
    ReduceOperation.MIN: nn.ReduceMin,
    ReduceOperation.AVG: nn.ReduceMean,
}


class IReduceLayer(ILayer):
    type = LayerType.REDUCE
    op = param("op")
    axes = param("axes")
    keep_dims = param("keep_dims")

    def _emit(self, e: _Emitter) -> list[Value]:
        x = self._input(0)
        axes = axes_of(int(self._params["axes"]), self._rank(x))
        if not axes:
            raise e.fail(f"axes mask {self._params['axes']} selects no axis of {x.type}")
        cls = _REDUCE[ReduceOperation(self._params["op"])]
        return [e.value(cls, x, e.const(axes, np.int64), keepdims=bool(self._params["keep_dims"]))]


class ISoftMaxLayer(ILayer):
    type = LayerType.SOFTMAX
    axes = param("axes")

    def _emit(self, e: _Emitter) -> list[Value]:
        x = self._input(0)
        rank = self._rank(x)
        mask = self._params.get("axes")
        axes = axes_of(int(mask), rank) if mask is not None else (_default_axis(rank),)
        if len(axes) != 1:
            raise e.fail(f"softmax takes exactly one axis; the mask {mask} selects {list(axes)}")
        return [e.value(nn.Softmax, x, axis=axes[0])]


class INormalizationLayer(ILayer):
    """``(x - mean) / sqrt(var + epsilon) * scale + bias`` over ``axes``; with ``num_groups`` > 1 the
    channels (axis 1) are split into groups first (group normalization)."""

    type = LayerType.NORMALIZATION
    axes = param("axes")
    epsilon = param("epsilon")
    num_groups = param("num_groups")

    def _emit(self, e: _Emitter) -> list[Value]:
        x, scale, bias = self._input(0), self._input(1, "(scale)"), self._input(2, "(bias)")
        rank = self._rank(x)
        axes = axes_of(int(self._params["axes"]), rank)
        eps = float(self._params.get("epsilon", 1e-5))
        groups = int(self._params.get("num_groups") or 1)
        if not axes:
            raise e.fail(f"axes mask {self._params['axes']} selects no axis")
        h = x
        if groups > 1:
            shape = x.type.shape  # type: ignore[attr-defined]
            c = shape[1]
            if not isinstance(c, int) or c % groups:
                raise e.fail(f"{groups} groups do not divide the {c} channels of {x.type}")
            h = e.value(nn.Reshape, x, e.const([0, groups, -1], np.int64))
            axes = (2,)
        ax = e.const(axes, np.int64)
        mean = e.value(nn.ReduceMean, h, ax, keepdims=True)
        d = e.value(nn.Sub, h, mean)
        var = e.value(nn.ReduceMean, e.value(nn.Mul, d, d), ax, keepdims=True)
        std = e.value(nn.Sqrt, e.value(nn.Add, var, e.scalar_like(x, eps)))
        y = e.value(nn.Div, d, std)
        if groups > 1:
            y = e.value(nn.Reshape, y, e.value(nn.Shape, x))
        return [e.value(nn.Add, e.value(nn.Mul, y, scale), bias)]


class ITopKLayer(ILayer):
    type = LayerType.TOPK
    op = param("op")
    k = param("k")
    axes = param("axes")

    def _emit(self, e: _Emitter) -> list[Value]:
        x = self._input(0)
        axes = axes_of(int(self._params["axes"]), self._rank(x))
        if len(axes) != 1:
            raise e.fail(
                f"top-k takes exactly one axis; the mask {self._params['axes']} selects {list(axes)}"
            )
        op = e.op(
            nn.TopK,
            x,
            e.const([int(self._params["k"])], np.int64),
            axis=axes[0],
            largest=TopKOperation(self._params["op"]) == TopKOperation.MAX,
        )
        return list(op.results)


class IEinsumLayer(ILayer):
    type = LayerType.EINSUM
    equation = param("equation")

    def _emit(self, e: _Emitter) -> list[Value]:
        return [
            e.value(
                nn.Einsum, [t.value for t in self._inputs if t is not None], equation=self._params["equation"]
            )
        ]
