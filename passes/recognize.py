"""recognize-composites: fused ops from the decomposed forms exporters write.

Exporters (torch's legacy one above all) spell GELU, layer normalization, SiLU and HardSwish out in
elementwise ops and reductions. Seeing the whole lets code generation pick one kernel (and lets
later passes reason about one op). Each pattern matches exactly the computation of the fused op,
up to the order of commutative operands and the equivalent spellings listed in its docstring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tritium.ir.dialects import nn
from tritium.ir.opdef import constant_value
from tritium.ir.rewriter import Rewriter
from tritium.passes.base import Pass, register_pass
from tritium.passes.match import is_scalar, last_axis_reduce, producer, scalar, single_user, split_operands
from tritium.passes.patterns import RewritePattern, apply_patterns_greedily, pattern


def _half_times(v: Any, x: Any) -> bool:
    """``v`` is x * 0.5 (either order)."""
    m = producer(v, "nn.mul")
    return m is not None and split_operands(m, lambda a: is_scalar(a, 0.5)) is not None and x in m.operands


@pattern
def gelu_erf(op: nn.Erf, rw: Rewriter) -> bool:
    """0.5 * x * (1 + erf(x / sqrt(2)))  ->  gelu(x)
    (also x * 0.7071..., and the 0.5 applied to x or to the product)"""
    inner = op.x.defining_op
    if inner is None or inner.name not in ("nn.div", "nn.mul"):
        return False
    c = scalar(inner.operand(1))
    if c is None or not (
        (inner.name == "nn.div" and abs(c - math.sqrt(2)) < 1e-3)
        or (inner.name == "nn.mul" and abs(c - 1 / math.sqrt(2)) < 1e-3)
    ):
        return False
    x = inner.operand(0)
    add = single_user(op.results[0], "nn.add")
    if add is None or split_operands(add, lambda a: is_scalar(a, 1.0)) is None:
        return False
    mul = single_user(add.results[0], "nn.mul")
    if mul is None:
        return False
    other = split_operands(mul, lambda a: a is add.results[0])[1]  # type: ignore[index]
    if other is x:
        final = single_user(mul.results[0], "nn.mul")
        if final is None or split_operands(final, lambda a: is_scalar(a, 0.5)) is None:
            return False
    elif _half_times(other, x):
        final = mul
    else:
        return False
    if final.results[0].type != x.type:
        return False
    rw.replace_op_with(final, nn.Gelu, x, approximate="none", loc=final.loc)
    return True


@pattern
def gelu_tanh(op: nn.Tanh, rw: Rewriter) -> bool:
    """0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))  ->  gelu(x, approximate = tanh)"""
    scaled = producer(op.x, "nn.mul")
    if scaled is None:
        return False
    sp = split_operands(scaled, lambda a: is_scalar(a, math.sqrt(2 / math.pi)))
    if sp is None:
        return False
    inner = producer(sp[1], "nn.add")
    if inner is None:
        return False
    for x, cube_term in ((inner.operand(0), inner.operand(1)), (inner.operand(1), inner.operand(0))):
        cm = producer(cube_term, "nn.mul")
        if cm is None:
            continue
        cs = split_operands(cm, lambda a: is_scalar(a, 0.044715))
        if cs is None:
            continue
        cube = cs[1]
        pw = producer(cube, "nn.pow")
        if not (
            (pw is not None and pw.operand(0) is x and is_scalar(pw.operand(1), 3.0)) or _is_cube(cube, x)
        ):
            continue
        add = single_user(op.results[0], "nn.add")
        if add is None or split_operands(add, lambda a: is_scalar(a, 1.0)) is None:
            return False
        mul = single_user(add.results[0], "nn.mul")
        if mul is None:
            return False
        other = split_operands(mul, lambda a, r=add.results[0]: a is r)[1]  # type: ignore[index]
        if other is x:
            final = single_user(mul.results[0], "nn.mul")
            if final is None or split_operands(final, lambda a: is_scalar(a, 0.5)) is None:
                return False
        elif _half_times(other, x):
            final = mul
        else:
            return False
        if final.results[0].type != x.type:
            return False
        rw.replace_op_with(final, nn.Gelu, x, approximate="tanh", loc=final.loc)
        return True
    return False


def _is_cube(v: Any, x: Any) -> bool:
    m = producer(v, "nn.mul")
    if m is None:
        return False
    a, b = m.operands
    inner = producer(a, "nn.mul") or producer(b, "nn.mul")
    return (a is x or b is x) and inner is not None and list(inner.operands) == [x, x]


@pattern
def layer_norm(op: nn.Div, rw: Rewriter) -> bool:
    """(x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps) [* gamma [+ beta]]  ->  layer_normalization
    (reductions over the last axis; the square as pow(d, 2) or d * d)"""
    d, s = op.lhs, op.rhs
    sub = producer(d, "nn.sub")
    sq = producer(s, "nn.sqrt")
    if sub is None or sq is None:
        return False
    x, mean = sub.lhs, sub.rhs
    rank = x.type.rank
    m1 = producer(mean, "nn.reduce_mean")
    if rank is None or m1 is None or m1.x is not x or not last_axis_reduce(m1, rank):
        return False
    add = producer(sq.x, "nn.add")
    if add is None:
        return False
    ve = split_operands(add, lambda a: scalar(a) is not None)
    if ve is None:
        return False
    eps = scalar(ve[0])
    m2 = producer(ve[1], "nn.reduce_mean")
    if m2 is None or not last_axis_reduce(m2, rank):
        return False
    square = m2.x.defining_op
    if not (
        (
            square is not None
            and square.name == "nn.pow"
            and square.operand(0) is d
            and is_scalar(square.operand(1), 2.0)
        )
        or (square is not None and square.name == "nn.mul" and list(square.operands) == [d, d])
    ):
        return False
    if op.results[0].type != x.type:
        return False
    n = x.type.shape[-1]
    if not isinstance(n, int):
        return False
    dt = x.type.dtype.np_dtype
    root, gamma, beta = op, None, None
    mul = single_user(op.results[0], "nn.mul")
    if mul is not None:
        g = split_operands(mul, lambda a: a is op.results[0])[1]  # type: ignore[index]
        gv = constant_value(g)
        if gv is not None and gv.shape in ((n,),) and mul.results[0].type == x.type:
            root, gamma = mul, g
            badd = single_user(mul.results[0], "nn.add")
            if badd is not None:
                b = split_operands(badd, lambda a: a is mul.results[0])[1]  # type: ignore[index]
                bv = constant_value(b)
                if bv is not None and bv.shape == (n,) and badd.results[0].type == x.type:
                    root, beta = badd, b
    import numpy as np

    with rw.at(before=root):
        if gamma is None:
            gamma = rw.insert(nn.Constant.of(np.ones(n, dt), root.module(), "ln.gamma", root.loc)).out
        ln = rw.create(nn.LayerNormalization, x, gamma, beta, axis=-1, epsilon=float(eps), loc=root.loc)  # type: ignore[arg-type]
    rw.replace_op(root, [ln.results[0]])
    return True


@pattern
def silu(op: nn.Mul, rw: Rewriter) -> bool:
    """x * sigmoid(x)  ->  swish(x)"""
    sp = split_operands(op, lambda a: producer(a, "nn.sigmoid") is not None)
    if sp is None or producer(sp[0], "nn.sigmoid").x is not sp[1] or op.results[0].type != sp[1].type:
        return False
    rw.replace_op_with(op, nn.Swish, sp[1], alpha=1.0)
    return True


@pattern
def hard_swish(op: nn.Mul, rw: Rewriter) -> bool:
    """x * hard_sigmoid(x, 1/6, 0.5)  ->  hard_swish(x)"""
    sp = split_operands(op, lambda a: producer(a, "nn.hard_sigmoid") is not None)
    if sp is None:
        return False
    hs = producer(sp[0], "nn.hard_sigmoid")
    if (
        hs.x is not sp[1]
        or abs(hs.alpha - 1 / 6) > 1e-4
        or abs(hs.beta - 0.5) > 1e-6
        or op.results[0].type != sp[1].type
    ):
        return False
    rw.replace_op_with(op, nn.HardSwish, sp[1])
    return True


@pattern
def softmax(op: nn.Div, rw: Rewriter) -> bool:
    """exp(x - max(x)) / sum(exp(x - max(x)))  ->  softmax(x)   (last axis)"""
    e = producer(op.lhs, "nn.exp")
    s = producer(op.rhs, "nn.reduce_sum")
    if e is None or s is None or s.x is not op.lhs:
        return False
    sub = producer(e.x, "nn.sub")
    if sub is None:
        return False
    x = sub.lhs
    rank = x.type.rank
    mx = producer(sub.rhs, "nn.reduce_max")
    if (
        rank is None
        or mx is None
        or mx.x is not x
        or not last_axis_reduce(mx, rank)
        or not last_axis_reduce(s, rank)
    ):
        return False
    if op.results[0].type != x.type:
        return False
    rw.replace_op_with(op, nn.Softmax, x, axis=-1)
    return True


COMPOSITES: list[RewritePattern] = [gelu_erf, gelu_tanh, layer_norm, silu, hard_swish, softmax]


@register_pass
@dataclass(frozen=True)
class RecognizeComposites(Pass):
    """Replace decomposed GELU (erf and tanh forms), layer normalization, SiLU, HardSwish and
    softmax by their single ops.

    Requires: nn IR. Guarantees: the values are unchanged (up to float rounding); the decomposed
    ops become dead and are removed.
    """

    name = "recognize-composites"

    def run(self, module: Any) -> dict[str, int]:
        return dict(apply_patterns_greedily(module, COMPOSITES, fold=False))
