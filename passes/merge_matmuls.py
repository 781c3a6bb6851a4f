"""merge-parallel-matmuls: projections of one input that feed attention become one GEMM.

    q = matmul(x, Wq) + bq;  k = matmul(x, Wk) + bk;  v = matmul(x, Wv) + bv
    ->  qkv = matmul(x, concat(Wq, Wk, Wv, axis=1)) + concat(bq, bk, bv)
        q = slice(qkv, [0:N]);  k = slice(qkv, [N:2N]);  v = slice(qkv, [2N:3N])   (last axis)

One wide GEMM instead of three narrow ones: a third of the launches and a better-filled GPU. The
merge is made only where every projection reaches attention through reshapes and transposes alone:
attention reads its operands through their strides, so the slices and head splits are views and
nothing is copied (runtime/views.py). Elsewhere a slice would be a copy that costs what the merge saves.
The merged weight records its sources (``derived_from``), so the refitter rebuilds it from new ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tritium.ir.attributes import ResourceRef, fuse_locs
from tritium.ir.core import Operation, Value
from tritium.ir.dialects import nn
from tritium.ir.opdef import Pure, constant_value
from tritium.ir.rewriter import Rewriter
from tritium.passes.base import Pass, register_pass
from tritium.passes.fold_batch_norm import new_weight

_VIEWS = ("nn.reshape", "nn.transpose", "nn.squeeze", "nn.unsqueeze", "nn.flatten")


def _dead(op: Operation) -> bool:
    """A pure op whose results nothing live reads (what recognize-attention leaves before DCE)."""
    return Pure in op.TRAITS and all(_dead(u) for r in op.results for u in r.users)


def _feeds_attention(v: Value) -> bool:
    """Every live use of ``v`` leads, through view-like ops only, to a q, k or v operand of attention."""
    live = [use for use in v.uses if not _dead(use.op) and use.op.name != "nn.shape"]  # shapes fold away
    if not live:
        return False
    for use in live:
        op = use.op
        if op.name == "nn.attention" and use.index < 3:
            continue
        if op.name in _VIEWS and use.index == 0 and _feeds_attention(op.results[0]):
            continue
        return False
    return True


@dataclass
class _Branch:
    matmul: Operation
    weight: np.ndarray
    bias: np.ndarray | None
    bias_value: Value | None
    end: Value  # what the rest of the graph reads: the bias add's result, or the matmul's
    scale: np.ndarray | None = None  # a float 8 product's per-column scale (its weight's and input's)
    scale_op: Operation | None = None

    @property
    def width(self) -> int:
        return int(self.weight.shape[1])


def _branch(mm: Operation) -> _Branch | None:
    w = constant_value(mm.operand(1))
    if w is None or w.ndim != 2:
        return None
    end, bias, bias_value = mm.results[0], None, None
    scale, scale_op = None, None
    if mm.name == "nn.matmul_float8":  # lower-quant's dequantizing scale follows it (per column or one)
        users = end.users
        if len(users) != 1 or users[0].name != "nn.mul":
            return None
        scale_op = users[0]
        other = scale_op.operand(1) if scale_op.operand(0) is end else scale_op.operand(0)
        s = constant_value(other)
        if s is None or s.size not in (1, w.shape[1]) or s.ndim > 1:
            return None
        scale, end = np.broadcast_to(s.reshape(-1), (w.shape[1],)), scale_op.results[0]
    users = end.users
    if len(users) == 1 and users[0].name == "nn.add":
        add = users[0]
        other = add.operand(1) if add.operand(0) is end else add.operand(0)
        b = constant_value(other)
        if b is not None and b.shape == (w.shape[1],) and b.dtype == end.type.dtype.np_dtype:  # type: ignore[attr-defined]
            end, bias, bias_value = add.results[0], b, other
    if not _feeds_attention(end):
        return None
    return _Branch(mm, w, bias, bias_value, end, scale, scale_op)


def _source(v: Value) -> str:
    """The weight's name in the source model ("" when it is not a named weight)."""
    value = v.defining_op.attributes.get("value") if v.defining_op is not None else None
    return value.name if isinstance(value, ResourceRef) else ""


def _name(v: Value) -> str:
    return _source(v) or v.name_hint or "w"


def _bounds(group: list[_Branch], y: Value) -> list[int]:
    """Where each branch's columns start, where the last ends, and the axis they lie on."""
    bounds = [0]
    for b in group:
        bounds.append(bounds[-1] + b.width)
    return [*bounds, y.type.rank - 1]  # type: ignore[attr-defined]


def _merge(module: Any, rw: Rewriter, x: Value, group: list[_Branch], pos: dict[Operation, int]) -> None:
    first = min((b.matmul for b in group), key=pos.__getitem__)
    w_names = [_source(b.matmul.operand(1)) for b in group]
    loc = fuse_locs(*(b.matmul.loc for b in group))
    w = new_weight(
        rw,
        module,
        np.concatenate([b.weight for b in group], axis=1),
        "+".join(_name(b.matmul.operand(1)) for b in group),
        first,
        ("concat_columns", *w_names),
    )
    with rw.at(before=first):
        product = rw.create(type(first), x, w, loc=loc)
        product.attributes.update(first.attributes)  # (a float 8 product is pinned to f32)
        y = product.results[0]
    if group[0].scale is not None:  # float 8: the columns' scales, concatenated, pinned as they were
        scale = np.concatenate([b.scale for b in group]).astype(np.float32)  # type: ignore[misc]
        s = new_weight(
            rw, module, scale, "+".join(_name(b.matmul.operand(1)) + ".scale" for b in group), first
        )
        with rw.at(before=first):
            mul = rw.create(nn.Mul, y, s, loc=loc)
        mul.attributes.update(group[0].scale_op.attributes)  # type: ignore[union-attr]
        y = mul.results[0]
    if any(b.bias is not None for b in group):
        dtype = y.type.dtype.np_dtype  # type: ignore[attr-defined]
        biases = [b.bias if b.bias is not None else np.zeros(b.width, dtype) for b in group]
        bias = new_weight(
            rw,
            module,
            np.concatenate(biases),
            "+".join(_name(b.bias_value) if b.bias_value is not None else "zeros" for b in group),
            first,
            ("concat", *(_source(b.bias_value) for b in group if b.bias_value is not None)),
        )
        with rw.at(before=first):
            y = rw.create(nn.Add, y, bias, loc=loc).results[0]
    parts = []
    with rw.at(before=first):
        index = [rw.insert(nn.Constant.of(np.array([i], np.int64), loc=loc)).out for i in _bounds(group, y)]
        for i, b in enumerate(group):
            parts.append(
                rw.create(nn.Slice, y, index[i], index[i + 1], index[-1], loc=b.matmul.loc).results[0]
            )
    for b, part in zip(group, parts):
        rw.replace_all_uses_with(b.end, part)
        chain = [b.end.defining_op, b.scale_op, b.matmul]  # the bias add, the scale, the product
        for op in dict.fromkeys(o for o in chain if o is not None):
            rw.erase_op(op)


@register_pass
@dataclass(frozen=True)
class MergeParallelMatmuls(Pass):
    """Merge the constant-weight projections of one input that feed attention into one matmul.

    Requires: nn IR after recognize-attention. Guarantees: for every value read by two or more
    ``matmul(x, W)`` (W a 2-D constant, the same dtype and inner size, each optionally followed by
    ``+ b`` with a constant 1-D bias) whose results reach attention's q, k or v through view-like
    ops only, one matmul with the concatenated weights (and biases; zeros where a branch had none)
    and one slice per branch over the last axis replace them. Float 8 products (``matmul_float8``,
    each followed by its dequantizing ``* scale``) merge the same way, their scales concatenated.
    Values are unchanged.
    """

    name = "merge-parallel-matmuls"

    def run(self, module: Any) -> dict[str, int]:
        rw = Rewriter()
        merged = groups = 0
        for func in module.functions:
            ops = list(func.block.ops)
            pos = {op: i for i, op in enumerate(ops)}
            for op in ops:
                if op.parent is None or op.name not in ("nn.matmul", "nn.matmul_float8"):
                    continue
                x = op.operand(0)
                found: dict[tuple, list[_Branch]] = {}
                for user in dict.fromkeys(x.users):
                    top = user in pos  # not inside a nested region
                    if top and user.name == op.name and user.operand(0) is x and user.operand(1) is not x:
                        b = _branch(user)
                        if b is not None:
                            key = (b.weight.shape[0], b.weight.dtype.str, b.end.type.dtype)  # type: ignore[attr-defined]
                            found.setdefault(key, []).append(b)
                for group in found.values():
                    if len(group) >= 2:
                        _merge(module, rw, x, group, pos)
                        merged += len(group)
                        groups += 1
        return {"matmuls merged": merged, "merged groups": groups}
