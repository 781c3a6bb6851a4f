"""Canonicalization patterns for the nn dialect: cheap local rewrites toward one normal form.

The per-op folds (``x * 1 -> x``, identity transpose, no-op reshape) live with the ops; these patterns
rewrite an op into other ops.
"""

from __future__ import annotations

import numpy as np

from tritium.ir.dialects import nn
from tritium.ir.opdef import Commutative, constant_value
from tritium.ir.rewriter import Rewriter
from tritium.passes.patterns import RewritePattern, pattern


@pattern
def double_transpose(op: nn.Transpose, rw: Rewriter) -> bool:
    """transpose(transpose(x, p), q) -> transpose(x, [p[i] for i in q])"""
    inner = op.x.defining_op
    if not isinstance(inner, nn.Transpose):
        return False
    perm = tuple(inner.perm[i] for i in op.perm)
    rw.replace_op_with(op, nn.Transpose, inner.x, perm=perm)
    return True


@pattern
def reshape_of_reshape(op: nn.Reshape, rw: Rewriter) -> bool:
    """reshape(reshape(x, s1), s2) -> reshape(x, s2)   when s2 has no 0 entries copying s1's dims"""
    inner = op.x.defining_op
    if not isinstance(inner, nn.Reshape):
        return False
    target = constant_value(op.shape)
    if target is None or (not op.allowzero and (target == 0).any()):
        return False
    rw.replace_op_with(op, nn.Reshape, inner.x, op.shape, allowzero=op.allowzero)
    return True


@pattern
def constant_to_rhs(op: nn.BinaryOp, rw: Rewriter) -> bool:
    """add(const, x) -> add(x, const)   for commutative ops, so folds and fusions look at one side"""
    if Commutative not in op.TRAITS:
        return False
    if constant_value(op.lhs) is None or constant_value(op.rhs) is not None:
        return False
    if op.lhs.type != op.results[0].type and op.rhs.type != op.results[0].type and op.lhs.type != op.rhs.type:
        return False
    rw.set_operands(op, [op.rhs, op.lhs])
    return True


@pattern
def softmax_over_unit_axis(op: nn.Softmax, rw: Rewriter) -> bool:
    """softmax(x) over an axis of size 1 -> constant 1 (broadcast like x)"""
    t = op.x.type
    if not (t.shape is not None and t.is_static and t.shape[op.axis] == 1):
        return False
    with rw.at(before=op):
        const = rw.insert(
            nn.Constant.of(np.ones(t.shape, t.dtype.np_dtype), op.module(), "softmax_one", op.loc)
        )
    rw.replace_op(op, [const.out])
    return True


@pattern
def global_pool_to_reduce(op: nn.GlobalAveragePool, rw: Rewriter) -> bool:
    """global_average_pool(x) -> reduce_mean(x, axes = spatial dims, keepdims)"""
    rank = op.x.type.rank
    if rank is None or rank < 3:
        return False
    with rw.at(before=op):
        axes = rw.insert(nn.Constant.of(np.arange(2, rank, dtype=np.int64), loc=op.loc)).out
    rw.replace_op_with(op, nn.ReduceMean, op.x, axes, keepdims=True)
    return True


@pattern
def global_max_pool_to_reduce(op: nn.GlobalMaxPool, rw: Rewriter) -> bool:
    """global_max_pool(x) -> reduce_max(x, axes = spatial dims, keepdims)"""
    rank = op.x.type.rank
    if rank is None or rank < 3:
        return False
    with rw.at(before=op):
        axes = rw.insert(nn.Constant.of(np.arange(2, rank, dtype=np.int64), loc=op.loc)).out
    rw.replace_op_with(op, nn.ReduceMax, op.x, axes, keepdims=True)
    return True


NN_PATTERNS: list[RewritePattern] = [
    global_pool_to_reduce,
    global_max_pool_to_reduce,
    double_transpose,
    reshape_of_reshape,
    constant_to_rhs,
    softmax_over_unit_axis,
]
