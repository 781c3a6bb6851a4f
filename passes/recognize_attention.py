"""recognize-attention: scaled dot-product attention, from the ops exporters write, into nn.attention.

    s = softmax(matmul(q * c1, kT * c2) [+ mask])        (or matmul(q, kT) * c, or / c)
    p = where(is_nan(s), 0, s)                            (optional: torch's fully-masked-row guard)
    y = matmul(p, v)
    ->  y = nn.attention(q, transpose(kT, [0, 1, 3, 2]), v, mask) {scale = c1 * c2}

This is what HF BERT, GPT-2 and ViT exports contain (torch's SDPA decomposition, both exporters).
nn.attention gives a fully masked row zeros, which is exactly what the is_nan guard computes, and
what a plain softmax would turn into NaNs: the guard's absence is required to hold only for rows
that always have an allowed key, so the pattern accepts both.

Then the masks those exports build, a constant condition and a per-batch key mask, both broadcast
to (B, 1, Sq, Sk):

    mask = where(C & X, 0, -inf)      (or the boolean C & X)
    ->  mask = where(X, 0, -inf)      when C is all true (BERT, ViT: a padding mask), and also
        {is_causal}                   when C is the lower triangle j <= i (GPT-2: causal + padding)

X is (B, 1, 1, Sk): one row of keys that the attention kernel loads once per key tile, where the
broadcast mask was a (Sq, Sk) tile per block of queries; a causal attention skips the key tiles
above the diagonal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tritium.ir.core import Value
from tritium.ir.dialects import nn
from tritium.ir.opdef import constant_value
from tritium.ir.rewriter import Rewriter
from tritium.passes.base import Pass, register_pass
from tritium.passes.match import producer, scalar, single_user, split_operands
from tritium.passes.patterns import apply_patterns_greedily, pattern


def _scaled(v: Value) -> tuple[Value, float]:
    """(x, c) for v = x * c or c * x with a scalar constant c; else (v, 1)."""
    m = producer(v, "nn.mul")
    if m is not None:
        sp = split_operands(m, lambda a: scalar(a) is not None)
        if sp is not None:
            return sp[1], scalar(sp[0])  # type: ignore[return-value]
    return v, 1.0


def _rank4(v: Value) -> bool:
    return getattr(v.type, "rank", None) == 4


@pattern
def sdpa(op: nn.Softmax, rw: Rewriter) -> bool:
    """softmax(matmul(q * c1, kT * c2) + mask) [guarded] @ v  ->  attention(q, k, v, mask){scale = c1 c2}"""
    x = op.x
    if op.axis not in (-1, 3) or not _rank4(x):
        return False
    mask = None
    add = producer(x, "nn.add")
    scores_v = x
    if add is not None:
        sp = split_operands(add, lambda a: producer(a, "nn.matmul", "nn.mul", "nn.div") is not None)
        if sp is None:
            return False
        scores_v, mask = sp
    scale = 1.0
    post = producer(scores_v, "nn.mul", "nn.div")
    if post is not None and scalar(post.operand(1)) is not None and producer(post.operand(0), "nn.matmul"):
        c = scalar(post.operand(1))
        scale = c if post.name == "nn.mul" else 1.0 / c  # type: ignore[operator]
        scores_v = post.operand(0)
    mm = producer(scores_v, "nn.matmul")
    if mm is None or not scores_v.has_one_use:
        return False
    q, c1 = _scaled(mm.operand(0))
    kt, c2 = _scaled(mm.operand(1))
    if not (_rank4(q) and _rank4(kt)):
        return False
    p = op.results[0]
    guard = None
    users = p.users
    if len(users) == 2:  # softmax -> is_nan -> where(isnan, 0, softmax)
        isnan = next((u for u in users if u.name == "nn.is_nan"), None)
        where = next((u for u in users if u.name == "nn.where"), None)
        if (
            isnan is None
            or where is None
            or where.operand(0) is not isnan.results[0]
            or where.operand(2) is not p
        ):
            return False
        if scalar(where.operand(1)) != 0.0:
            return False
        guard = where
        p = where.results[0]
    pv = single_user(p, "nn.matmul")
    if pv is None or pv.operand(0) is not p:
        return False
    v = pv.operand(1)
    if not _rank4(v) or (mask is not None and getattr(mask.type, "rank", None) not in (2, 3, 4)):
        return False
    if mask is not None and not mask.type.dtype.is_float:  # type: ignore[attr-defined]
        return False
    with rw.at(before=pv):
        k = rw.create(nn.Transpose, kt, perm=(0, 1, 3, 2), loc=mm.loc).results[0]
        att = rw.create(
            nn.Attention, q, k, v, attn_mask=mask, scale=float(scale * c1 * c2), loc=_loc(op, mm, pv)
        )
    if att.results[0].type.shape is not None and pv.results[0].type.shape is not None:  # type: ignore[attr-defined]
        from tritium.ir.types import types_compatible

        if not (
            types_compatible(pv.results[0].type, att.results[0].type)
            or types_compatible(att.results[0].type, pv.results[0].type)
        ):
            rw.erase_op(att)
            rw.erase_op(k.defining_op)  # type: ignore[arg-type]
            return False
    rw.replace_op(pv, [att.results[0]])
    del guard
    return True


@pattern
def structured_mask(op: nn.Attention, rw: Rewriter) -> bool:
    """attention(.., where(C & X, a, -inf)) -> attention(.., where(X, a, -inf)) {is_causal if C is the
    lower triangle}; C all true: any a and b. The boolean mask C & X likewise. The new mask must
    keep the old one's keys (nn.attention pads a shorter last axis with masked keys, it does not
    broadcast it)."""
    mask = op.attn_mask
    where = producer(mask, "nn.where")
    conj = producer(where.operand(0) if where is not None else mask, "nn.and")
    if conj is None:
        return False
    sp = split_operands(conj, lambda a: constant_value(a) is not None)
    if sp is None:
        return False
    c, x = np.asarray(constant_value(sp[0])).astype(bool), sp[1]
    parts = [x] if where is None else [x, where.operand(1), where.operand(2)]
    shapes = [getattr(v.type, "shape", None) for v in (*parts, mask)]
    if any(s is None for s in shapes) or not shapes[-1]:
        return False
    keys = {sh[-1] for sh in shapes[:-1] if sh and sh[-1] != 1}  # (a dynamic batch may stay dynamic)
    if keys != {shapes[-1][-1]} and not (not keys and shapes[-1][-1] == 1):
        return False
    causal = False
    if not c.all():
        q_shape, k_shape = (getattr(v.type, "shape", None) or (None,) * 4 for v in (op.q, op.k))
        n = q_shape[2]
        if op.is_causal or op.past_key is not None or op.nonpad_kv_seqlen is not None:
            return False
        if (
            not isinstance(n, int)
            or n != k_shape[2]
            or c.ndim < 2
            or c.shape[-2:] != (n, n)
            or c.size != n * n
        ):
            return False
        if not np.array_equal(c.reshape(n, n), np.tril(np.ones((n, n), bool))):
            return False
        if where is not None:
            allowed = constant_value(where.operand(1))
            if scalar(where.operand(2)) != float("-inf") or allowed is None or not np.isfinite(allowed).all():
                return False  # a finite "masked" value leaves rows it masks whole uniform, not zeros
        causal = True
    with rw.at(before=op):
        new = x if where is None else rw.create(nn.Where, *parts, loc=where.loc).out
    assert op.operands[3] is mask  # (q, k, v, then the mask)
    rw.set_operand(op, 3, new)
    if causal:
        rw.set_attr(op, "is_causal", True)
    return True


def _loc(*ops: Any) -> Any:
    from tritium.ir.attributes import fuse_locs

    return fuse_locs(*(o.loc for o in ops))


@register_pass
@dataclass(frozen=True)
class RecognizeAttention(Pass):
    """Replace decomposed scaled dot-product attention by nn.attention.

    Requires: nn IR with 4-D (batch, heads, sequence, head dim) queries, transposed keys and values.
    Guarantees: each matched softmax(q kT * scale + mask) v becomes one nn.attention with the same
    values (fully masked rows give zeros, as torch's guarded decomposition does); a mask that is a
    constant (all true, or causal) and a key mask becomes the key mask alone (and is_causal); the
    replaced ops become dead.
    """

    name = "recognize-attention"

    def run(self, module: Any) -> dict[str, int]:
        return dict(apply_patterns_greedily(module, [sdpa, structured_mask], fold=False))
