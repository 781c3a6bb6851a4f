"""Canonicalization patterns for the nn dialect: cheap local rewrites toward one normal form.

The per-op folds (``x * 1 -> x``, identity transpose, no-op reshape) live with the ops; these patterns
rewrite an op into other ops.
"""

from __future__ import annotations

import numpy as np

from tritium.ir.core import Operation, Use, Value
from tritium.ir.dialects import nn
from tritium.ir.opdef import Commutative, constant_value
from tritium.ir.rewriter import Rewriter
from tritium.ir.types import TensorType
from tritium.passes.fusion_policy import scalar_epilogue_op
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


def _static_shape(v: object) -> tuple[int, ...] | None:
    t = getattr(v, "type", None)
    shape = getattr(t, "shape", None)
    return tuple(shape) if shape is not None and t.is_static else None  # type: ignore[union-attr]


@pattern
def transpose_between_batch_reshapes(op: nn.Reshape, rw: Rewriter) -> bool:
    """reshape(transpose(reshape(x, [a*b, m, n]), [0, 2, 1]), [a, b, n, m]) -> transpose(x, [0, 1, 3, 2])
    (leading dims merged into one batch dim, a transpose that keeps it first, the batch split back:
    how the dynamo exporter writes a batched K^T)"""
    t = op.x.defining_op
    if not isinstance(t, nn.Transpose) or t.perm[0] != 0 or not t.results[0].has_one_use:
        return False
    inner = t.x.defining_op
    if not isinstance(inner, nn.Reshape):
        return False
    xs, ms, ts, out = (_static_shape(v) for v in (inner.x, inner.results[0], t.results[0], op.results[0]))
    if xs is None or ms is None or ts is None or out is None:
        return False
    k = len(xs) - len(ms) + 1  # the number of dims merged into the batch dim
    if k < 1 or xs[k:] != ms[1:] or int(np.prod(xs[:k])) != ms[0] or out != (*xs[:k], *ts[1:]):
        return False
    perm = (*range(k), *(p + k - 1 for p in t.perm[1:]))
    rw.replace_op_with(op, nn.Transpose, inner.x, perm=perm)
    return True


@pattern
def matmul_between_flattening_reshapes(op: nn.Reshape, rw: Rewriter) -> bool:
    """reshape(matmul(reshape(x, [B*S, K]), W) [+ b], [B, S, N]) -> matmul(reshape(x, [B, S, K]), W) [+ b]
    (a Gemm on flattened rows, as exporters write a Linear layer: the batched matmul leaves no
    reshape behind it, so what follows fuses into its epilogue; the one before folds away when x
    already has the shape [B, S, K])"""
    y = op.x.defining_op
    add = None
    if isinstance(y, nn.Add) and y.results[0].has_one_use:
        add, y = (
            y,
            next((d for d in (y.lhs.defining_op, y.rhs.defining_op) if isinstance(d, nn.MatMul)), None),
        )
    if not isinstance(y, nn.MatMul) or not y.results[0].has_one_use:
        return False
    inner = y.operand(0).defining_op
    if not isinstance(inner, nn.Reshape):
        return False
    xs, ws, out = _static_shape(inner.x), _static_shape(y.operand(1)), _static_shape(op.results[0])
    if xs is None or ws is None or out is None or len(ws) != 2 or len(out) < 2 or out[-1] != ws[1]:
        return False
    if _static_shape(inner.results[0]) != (int(np.prod(out[:-1])), ws[0]):
        return False
    bias = None
    if add is not None:
        bias = add.rhs if add.lhs is y.results[0] else add.lhs
        bs = _static_shape(bias)
        if (
            bs is None
            or len(bs) > 2
            or (bs and bs[-1] not in (1, ws[1]))
            or int(np.prod(bs)) not in (1, ws[1])
        ):
            return False
    with rw.at(before=op):
        x = inner.x
        if xs != (*out[:-1], ws[0]):  # rows of another shape (a head merge): one reshape, a view
            shape = rw.insert(nn.Constant.of(np.array([*out[:-1], ws[0]], np.int64), loc=inner.loc)).out
            x = rw.create(nn.Reshape, x, shape, loc=inner.loc).results[0]
        new = rw.create(nn.MatMul, x, y.operand(1), loc=y.loc).results[0]
        if bias is not None:
            new = rw.create(nn.Add, new, bias, loc=add.loc).results[0]  # type: ignore[union-attr]
    rw.replace_op(op, [new])
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


@pattern
def gather_of_one_index(op: nn.Gather, rw: Rewriter) -> bool:
    """gather(x, k, axis=a) with a constant scalar k -> reshape(slice(x, [k], [k + 1], [a]), shape
    without axis a); with a one-element index list [k], the slice alone   (a select, as
    nn.MultiheadAttention picks Q, K and V: a slice can be a view where a gather is always a copy)"""
    k = constant_value(op.indices)
    xs, out = _static_shape(op.data), _static_shape(op.results[0])
    if k is None or k.size != 1 or k.ndim > 1 or xs is None or out is None:
        return False
    axis = op.axis % len(xs)
    index = int(k.reshape(-1)[0])
    index = index + xs[axis] if index < 0 else index
    if not 0 <= index < xs[axis]:
        return False  # out of range: the gather's own error stays
    with rw.at(before=op):
        bounds = [
            rw.insert(nn.Constant.of(np.array([v], np.int64), loc=op.loc)).out
            for v in (index, index + 1, axis)
        ]
        if k.ndim == 1:
            rw.replace_op_with(op, nn.Slice, op.data, *bounds)
            return True
        part = rw.create(nn.Slice, op.data, *bounds, loc=op.loc).results[0]
        shape = rw.insert(nn.Constant.of(np.array(out, np.int64), loc=op.loc)).out
    rw.replace_op_with(op, nn.Reshape, part, shape)
    return True


def _row_bias(shape: tuple[int, ...], n: int, rank: int) -> bool:
    """Whether a bias of ``shape`` adds along the last axis only (ones elsewhere, rank at most the
    product's): only then does it commute with a transpose of the leading axes."""
    return len(shape) <= rank and all(d == 1 for d in shape[:-1]) and (not shape or shape[-1] in (1, n))


@pattern
def transpose_of_matmul(op: nn.Transpose, rw: Rewriter) -> bool:
    """transpose(matmul(x, W) [+ b], p) -> matmul(transpose(x, p), W) [+ b]   for a 2-D W, a row
    bias b and a p that keeps the last axis, when x comes from a transpose or a reshape: the moved
    transpose folds into what made x (nn.MultiheadAttention's output projection works seq-first
    and transposes back after it: moved up, that transpose meets the head merge after attention)"""
    p = tuple(op.perm)
    y = op.x.defining_op
    add = None
    if isinstance(y, nn.Add) and y.results[0].has_one_use:
        add, y = (
            y,
            next((d for d in (y.lhs.defining_op, y.rhs.defining_op) if isinstance(d, nn.MatMul)), None),
        )
    if not isinstance(y, nn.MatMul) or not y.results[0].has_one_use or len(p) < 3 or p[-1] != len(p) - 1:
        return False
    x, w = y.operand(0), y.operand(1)
    ws, xs = _static_shape(w), _static_shape(x)
    if ws is None or len(ws) != 2 or xs is None or len(xs) != len(p):
        return False
    if not isinstance(x.defining_op, (nn.Transpose, nn.Reshape)):
        return False
    bias = None
    if add is not None:
        bias = add.rhs if add.lhs is y.results[0] else add.lhs
        bs = _static_shape(bias)
        if bs is None or not _row_bias(bs, ws[1], len(p)):
            return False
    with rw.at(before=op):
        moved = rw.create(nn.Transpose, x, perm=p, loc=op.loc).results[0]
        new = rw.create(nn.MatMul, moved, w, loc=y.loc).results[0]
        if bias is not None:
            new = rw.create(nn.Add, new, bias, loc=add.loc).results[0]  # type: ignore[union-attr]
    rw.replace_op(op, [new])
    for dead in (add, y):  # now, so that x has one user again when the moved transpose is visited
        if dead is not None:
            rw.erase_op(dead)
    return True


@pattern
def matmul_of_transpose(op: nn.MatMul, rw: Rewriter) -> bool:
    """matmul(transpose(x, p), W) [+ b] -> transpose(matmul(x, W) [+ b], p)   for a 2-D W, a row
    bias b and a p that keeps the last axis, when x is an input or a kernel's result (not a
    transpose or reshape, whose transposes transpose_of_matmul moves the other way) and a head split
    (a reshape) takes the result: the product reads x as it is, the bias stays in its epilogue, and
    the moved transpose joins the reshapes and slices after it, which run as views
    (nn.MultiheadAttention's in-projection works seq-first: ViT transposed each LayerNorm's output
    for it, a copy per layer)"""
    t = op.operand(0).defining_op
    if not isinstance(t, nn.Transpose) or not t.results[0].has_one_use:
        return False
    p = tuple(t.perm)
    x, w = t.x, op.operand(1)
    ws, xs = _static_shape(w), _static_shape(x)
    if len(p) < 3 or p[-1] != len(p) - 1 or ws is None or len(ws) != 2 or xs is None:
        return False
    if isinstance(x.defining_op, (nn.Transpose, nn.Reshape)) or not op.results[0].has_one_use:
        return False
    # only where a head split takes the result: the moved transpose then becomes part of its view;
    # elsewhere it would copy the product, which may be wider than x
    last: Operation = op
    user = next(iter(op.results[0].users))
    bias = None
    if isinstance(user, nn.Add) and user.results[0].has_one_use:
        bias = user.rhs if user.lhs is op.results[0] else user.lhs
        bs = _static_shape(bias)
        if bs is None or not _row_bias(bs, ws[1], len(p)):
            return False
        last, user = user, next(iter(user.results[0].users))
    if not isinstance(user, nn.Reshape):
        return False
    with rw.at(before=last):
        product = rw.create(nn.MatMul, x, w, loc=op.loc).results[0]
        if bias is not None:
            product = rw.create(nn.Add, product, bias, loc=last.loc).results[0]
        moved = rw.create(nn.Transpose, product, perm=list(p), loc=t.loc).results[0]
    rw.replace_op(last, [moved])
    for dead in (op, t) if last is not op else (t,):
        rw.erase_op(dead)
    return True


@pattern
def transpose_of_trailing_reshape(op: nn.Transpose, rw: Rewriter) -> bool:
    """transpose(reshape(y, s), p) -> reshape(transpose(y, q), s permuted by p)   when the reshape
    changes only dims that p leaves in place (a trailing block: ys[:k] == s[:k] and p[i] == i for
    i >= k); q is p on the leading k dims and keeps the rest"""
    r = op.x.defining_op
    if not isinstance(r, nn.Reshape) or not r.results[0].has_one_use:
        return False
    ys, ss = _static_shape(r.x), _static_shape(r.results[0])
    p = tuple(op.perm)
    if ys is None or ss is None or len(p) != len(ss):
        return False
    k = len(p)
    while k > 0 and p[k - 1] == k - 1:
        k -= 1  # p fixes every axis from k on
    if k == 0 or ys[:k] != ss[:k] or len(ys) < k:
        return False
    q = (*p[:k], *range(k, len(ys)))
    out = _static_shape(op.results[0])
    with rw.at(before=op):
        moved = rw.create(nn.Transpose, r.x, perm=q, loc=op.loc).results[0]
        shape = rw.insert(nn.Constant.of(np.array(out, np.int64), loc=r.loc)).out
    rw.replace_op_with(op, nn.Reshape, moved, shape)
    return True


def _common_refinement(xs: tuple[int, ...], ms: tuple[int, ...]) -> list[int] | None:
    """The coarsest dims that both shapes are merges of (unit dims dropped), or None where a dim of
    one straddles two of the other: [S, B, E] and [S, B*H, D] -> [S, B, H, D]."""
    if 0 in xs or 0 in ms:
        return None
    a, b = [d for d in xs if d != 1], [d for d in ms if d != 1]
    out: list[int] = []
    while a and b:
        small, big = sorted((a[0], b[0]))
        if big % small:
            return None
        out.append(small)
        a[0], b[0] = a[0] // small, b[0] // small
        a, b = (a[1:] if a[0] == 1 else a), (b[1:] if b[0] == 1 else b)
    return out if not a and not b else None


def _groups(dims: list[int], shape: tuple[int, ...]) -> list[list[int]] | None:
    """For each dim of ``shape``, the run of ``dims`` whose product it is (a unit dim: none)."""
    groups, i = [], 0
    for d in shape:
        run, prod = [], 1
        while prod < d and i < len(dims):
            run.append(dims[i])
            prod *= dims[i]
            i += 1
        if prod != d:
            return None
        groups.append(run)
    return groups if i == len(dims) else None


@pattern
def transpose_between_reshapes(op: nn.Reshape, rw: Rewriter) -> bool:
    """reshape(transpose(reshape(x, m), p), s) -> reshape(transpose(reshape(x, f), q), s)   where f
    splits x and m into their common dims, q is p on f's runs, and s is the transposed f up to unit
    dims (the outer reshapes then only split or add unit dims: views). nn.MultiheadAttention merges
    batch and heads ([S, B, E] -> [S, B*H, D] -> [B*H, S, D] -> [B, H, S, D]): a copy wherever the
    heads are not next to the batch in memory; rewritten, Q, K and V reach attention as views."""
    t = op.x.defining_op
    if not isinstance(t, nn.Transpose) or not t.results[0].has_one_use:
        return False
    inner = t.x.defining_op
    if not isinstance(inner, nn.Reshape) or not inner.results[0].has_one_use:
        return False
    xs, ms, out = (_static_shape(v) for v in (inner.x, inner.results[0], op.results[0]))
    if xs is None or ms is None or out is None:
        return False
    dims = _common_refinement(xs, ms)
    if dims is None or dims == [d for d in ms if d != 1]:
        return False  # no common dims, or m merges nothing (then nothing here copies)
    groups = _groups(dims, ms)
    if groups is None:
        return False
    starts = np.cumsum([0, *(len(g) for g in groups)])
    q = tuple(i for axis in t.perm for i in range(starts[axis], starts[axis + 1]))
    permuted = [dims[i] for i in q]
    if [d for d in out if d != 1] != permuted or q == tuple(range(len(q))):
        return False  # not a pure permutation of the common dims (or none at all)
    with rw.at(before=op):
        split = rw.insert(nn.Constant.of(np.array(dims, np.int64), loc=inner.loc)).out
        y = rw.create(nn.Reshape, inner.x, split, loc=inner.loc).results[0]
        y = rw.create(nn.Transpose, y, perm=q, loc=t.loc).results[0]
    if tuple(permuted) == out:
        rw.replace_op(op, [y])
    else:
        rw.replace_op_with(op, nn.Reshape, y, op.shape, allowzero=op.allowzero)
    return True


ORDER_CHECK_LIMIT = 1 << 24
"""Elements up to which a chain of reshapes and transposes is checked for keeping the order."""


@pattern
def transposes_that_keep_the_order(op: nn.Transpose, rw: Rewriter) -> bool:
    """transpose(...reshape(transpose(y, p))..., q) -> reshape(y, s)   when the chain of reshapes and
    transposes leaves every element where it was in memory (checked on y's indices): a patch GEMM's
    NHWC output made NCHW, flattened and transposed back to [N, H*W, C] is a view of it"""
    chain, cur = [op], op.x
    while isinstance(cur.defining_op, (nn.Reshape, nn.Transpose)) and cur.has_one_use:
        chain.append(cur.defining_op)
        cur = cur.defining_op.x  # type: ignore[attr-defined]
    shape, out = _static_shape(cur), _static_shape(op.results[0])
    if sum(isinstance(c, nn.Transpose) for c in chain) < 2 or shape is None or out is None:
        return False
    size = int(np.prod(shape))
    if size == 0 or size > ORDER_CHECK_LIMIT:
        return False
    idx = np.arange(size, dtype=np.int32).reshape(shape)
    for c in reversed(chain):
        if isinstance(c, nn.Transpose):
            idx = idx.transpose(tuple(c.perm))
        else:
            s = _static_shape(c.results[0])
            if s is None:
                return False
            idx = idx.reshape(s)
    if not np.array_equal(idx.reshape(-1), np.arange(size, dtype=np.int32)):
        return False
    with rw.at(before=op):
        target = rw.insert(nn.Constant.of(np.array(out, np.int64), loc=op.loc)).out
    rw.replace_op_with(op, nn.Reshape, cur, target)
    return True


@pattern
def elementwise_before_head_merge(op: nn.Attention, rw: Rewriter) -> bool:
    """f(reshape/transpose...(attention(q, k, v)), scalars) -> reshape/transpose...(f(attention(...), scalars))
    for f plain arithmetic with scalar constants (``scalar_epilogue_op``), the views each read by
    the next alone: f then reads the attention output itself and runs in the attention kernel's
    epilogue (an FP8 network's quantize of the merged heads: x / s cast to e4m3, after which the head
    merge moves 1-byte values). The attention output may have shape queries; the views may not."""

    def sole_use(v: Value) -> Use | None:
        return next(iter(v.uses)) if len(v.uses) == 1 else None

    def movable(use: Use | None, rank: int | None) -> bool:
        if use is None or not scalar_epilogue_op(use.op, use.op.operand(use.index)):
            return False
        return rank is not None and all(getattr(w.type, "rank", 99) <= rank for w in use.op.operands)  # type: ignore[attr-defined]

    rank = getattr(op.results[0].type, "rank", None)
    queries = [u for u in op.results[0].uses if u.op.name in ("nn.shape", "nn.size")]
    v = op.results[0]
    use = next(iter(u for u in v.uses if u not in queries), None) if len(v.uses) == len(queries) + 1 else None
    while movable(use, rank):  # (moved already: the chain continues after them)
        v = use.op.results[0]  # type: ignore[union-attr]
        use = sole_use(v)
    start, views = v, []
    while use is not None and isinstance(use.op, (nn.Reshape, nn.Transpose)):
        views.append(use.op)
        use = sole_use(use.op.results[0])
    chain = []  # the ops after the views, each reading the one before
    while views and movable(use, rank):
        chain.append(use)
        use = sole_use(use.op.results[0])  # type: ignore[union-attr]
    if not chain:
        return False
    moved = start
    with rw.at(before=chain[-1].op):
        for use in chain:
            f = use.op
            operands = [moved if i == use.index else w for i, w in enumerate(f.operands)]
            declared = {k: a for k, a in f.attributes.items() if k in type(f).ATTRS}  # type: ignore[attr-defined]
            g = rw.create(type(f), *operands, **declared, loc=f.loc)
            g.attributes.update({k: a for k, a in f.attributes.items() if k not in declared})  # (precision)
            moved = g.results[0]
        for view in views:
            if isinstance(view, nn.Reshape):
                moved = rw.create(nn.Reshape, moved, view.shape, allowzero=view.allowzero, loc=view.loc).out
            else:
                moved = rw.create(nn.Transpose, moved, perm=view.perm, loc=view.loc).out
            known = view.results[0].type
            if isinstance(known, TensorType) and known.shape is not None:  # (what inference knew)
                rw.set_type(moved, TensorType(known.shape, moved.type.dtype))  # type: ignore[attr-defined]
    rw.replace_op(chain[-1].op, [moved])
    for dead in [use.op for use in reversed(chain[:-1])] + list(reversed(views)):
        rw.erase_op(dead)
    return True


NN_PATTERNS: list[RewritePattern] = [
    global_pool_to_reduce,
    global_max_pool_to_reduce,
    double_transpose,
    reshape_of_reshape,
    transpose_between_batch_reshapes,
    matmul_between_flattening_reshapes,
    constant_to_rhs,
    softmax_over_unit_axis,
    gather_of_one_index,
    transpose_of_matmul,
    matmul_of_transpose,
    transpose_of_trailing_reshape,
    transpose_between_reshapes,
    transposes_that_keep_the_order,
    elementwise_before_head_merge,
]
