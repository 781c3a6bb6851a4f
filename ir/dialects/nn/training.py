"""Optimizer steps (ONNX's ai.onnx.preview.training): Adagrad, Adam, Momentum.

Each takes the learning rate ``r`` and update count ``t`` (scalars), then groups of tensors, one
tensor per optimized variable in each group (for Adam: X..., G..., V..., H...), and returns the
updated groups (for Adam: X_new..., V_new..., H_new...). The update computes in float64.
"""

from __future__ import annotations

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import FLOAT, one_of
from tritium.ir.opdef import Op, Pure, attr, operand, var_operand, var_result
from tritium.ir.types import TensorType, Type


class OptimizerOp(Op):
    """Shared structure: ``inputs`` holds ``groups_in`` groups, the results ``groups_out`` groups."""

    traits = (Pure,)
    r = operand(D.FLOATS)
    t = operand([D.i64])
    inputs = var_operand(D.FLOATS)
    outs = var_result()
    groups_in = 0
    groups_out = 0

    def _count(self) -> int:
        n, rem = divmod(len(self.inputs), self.groups_in)
        if rem or n == 0:
            self.fail(f"takes {self.groups_in} groups of tensors, one per variable; found {len(self.inputs)}")
        return n

    def infer(self) -> list[Type]:
        n = self._count()
        xs = [v.type for v in self.inputs[:n]]
        # X, then each state group (the groups after G): all keep their input types.
        states = [v.type for v in self.inputs[2 * n :]]
        return [*xs, *states]

    def verify_op(self) -> None:
        n = self._count()
        for v in (self.r, self.t):
            t = v.type
            if (
                isinstance(t, TensorType)
                and t.shape is not None
                and any(isinstance(d, int) and d != 1 for d in t.shape)
            ):
                self.fail(f"the learning rate and update count must be scalars, found {t}")
        for i in range(n):
            group = [self.inputs[g * n + i].type for g in range(self.groups_in)]
            if any(t != group[0] for t in group):
                self.fail(f"variable #{i} has tensors of different types: {', '.join(map(str, group))}")

    def split(self, inputs: list[np.ndarray]) -> list[list[np.ndarray]]:
        n = len(inputs) // self.groups_in
        return [[x.astype(np.float64) for x in inputs[g * n : (g + 1) * n]] for g in range(self.groups_in)]

    def finish(self, groups: list[list[np.ndarray]]) -> tuple:
        flat = [x for g in groups for x in g]
        return tuple(x.astype(r.type.dtype.np_dtype) for x, r in zip(flat, self.results))


def _scalar(x: np.ndarray) -> float:
    return float(np.asarray(x).reshape(-1)[0])


class Adagrad(OptimizerOp):
    """r' = r / (1 + t * decay_factor); g = norm_coefficient * x + g; h' = h + g^2;
    x' = x - r' * g / (sqrt(h') + epsilon). Groups: X, G, H -> X', H'."""

    name = "nn.adagrad"
    groups_in = 3
    groups_out = 2
    decay_factor = attr(FLOAT, default=0.0)
    epsilon = attr(FLOAT, default=1e-6)
    norm_coefficient = attr(FLOAT, default=0.0)

    def reference(self, r: np.ndarray, t: np.ndarray, inputs: list[np.ndarray]) -> tuple:
        xs, gs, hs = self.split(inputs)
        rate = _scalar(r) / (1 + _scalar(t) * self.decay_factor)
        new_x, new_h = [], []
        for x, g, h in zip(xs, gs, hs):
            g = self.norm_coefficient * x + g
            h2 = h + g * g
            new_x.append(x - rate * g / (np.sqrt(h2) + self.epsilon))
            new_h.append(h2)
        return self.finish([new_x, new_h])


class Adam(OptimizerOp):
    """g = norm_coefficient * x + g; v' = alpha v + (1 - alpha) g; h' = beta h + (1 - beta) g^2;
    r' = r sqrt(1 - beta^t) / (1 - alpha^t) when t > 0, else r;
    x' = (1 - norm_coefficient_post) (x - r' v' / (sqrt(h') + epsilon)).
    Groups: X, G, V, H -> X', V', H'."""

    name = "nn.adam"
    groups_in = 4
    groups_out = 3
    alpha = attr(FLOAT, default=0.9)
    beta = attr(FLOAT, default=0.999)
    epsilon = attr(FLOAT, default=1e-6)
    norm_coefficient = attr(FLOAT, default=0.0)
    norm_coefficient_post = attr(FLOAT, default=0.0)

    def reference(self, r: np.ndarray, t: np.ndarray, inputs: list[np.ndarray]) -> tuple:
        xs, gs, vs, hs = self.split(inputs)
        step = _scalar(t)
        rate = _scalar(r)
        if step > 0:
            rate = rate * np.sqrt(1 - self.beta**step) / (1 - self.alpha**step)
        out_x, out_v, out_h = [], [], []
        for x, g, v, h in zip(xs, gs, vs, hs):
            g = self.norm_coefficient * x + g
            v2 = self.alpha * v + (1 - self.alpha) * g
            h2 = self.beta * h + (1 - self.beta) * g * g
            x2 = x - rate * v2 / (np.sqrt(h2) + self.epsilon)
            out_x.append((1 - self.norm_coefficient_post) * x2)
            out_v.append(v2)
            out_h.append(h2)
        return self.finish([out_x, out_v, out_h])


class Momentum(OptimizerOp):
    """g = norm_coefficient * x + g; v' = alpha v + (beta if t > 0 else 1) g; then x' = x - r v'
    (standard) or x' = x - r (g + alpha v') (nesterov). Groups: X, G, V -> X', V'."""

    name = "nn.momentum"
    groups_in = 3
    groups_out = 2
    alpha = attr(FLOAT)
    beta = attr(FLOAT)
    norm_coefficient = attr(FLOAT)
    mode = attr(one_of("standard", "nesterov"))

    def reference(self, r: np.ndarray, t: np.ndarray, inputs: list[np.ndarray]) -> tuple:
        xs, gs, vs = self.split(inputs)
        rate = _scalar(r)
        beta = self.beta if _scalar(t) > 0 else 1.0
        out_x, out_v = [], []
        for x, g, v in zip(xs, gs, vs):
            g = self.norm_coefficient * x + g
            v2 = self.alpha * v + beta * g
            out_x.append(x - rate * (g + self.alpha * v2) if self.mode == "nesterov" else x - rate * v2)
            out_v.append(v2)
        return self.finish([out_x, out_v])
