"""merge-summed-matmuls: a sum of two products becomes one product over the joined reduction.

    y = (matmul(a1, W1) + b1) + (matmul(a2, W2) + b2)
    ->  y = matmul(concat(a1, a2, axis=-1), concat(W1, W2, axis=0)) + (b1 + b2)

ResNet's first block of each stage adds its projection shortcut (a strided 1x1 convolution, a GEMM
in NHWC) to the block's last 1x1 convolution. As two kernels, the shortcut writes its output (51 MB
at batch 32 in stage 1) and the other reads it back. As one product the shortcut's output never
exists: the GEMM template reads the two inputs of the concat in turn (``codegen/gemm_pieces.py``;
``fuse-kernels`` puts a concat that only a GEMM reads into the GEMM's kernel), so nothing is copied.

Only float products with 2-D constant weights of the same width whose inputs have the same rows
merge, each product (and its bias add) read by the sum alone, all with the same precision pin (kept
on what replaces them). The merged weight and bias record their sources (``derived_from``, through
the folds and layout changes that made the weights) for the refitter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tritium.ir.attributes import fuse_locs
from tritium.ir.core import Operation, Value
from tritium.ir.dialects import nn
from tritium.ir.opdef import constant_value
from tritium.ir.rewriter import Rewriter
from tritium.passes.base import Pass, register_pass
from tritium.passes.fold_batch_norm import new_weight
from tritium.passes.merge_matmuls import _name, _source


@dataclass
class _Term:
    matmul: Operation
    weight: np.ndarray
    bias: np.ndarray | None
    bias_value: Value | None
    end: Value  # what the sum reads: the bias add's result, or the product's


def _sole_user(v: Value) -> Operation | None:
    users = v.users
    return users[0] if len(users) == 1 else None


def _term(v: Value, total: Operation) -> _Term | None:
    """``v`` as ``matmul(a, W) [+ b]`` read by ``total`` alone, or None."""
    op = v.defining_op
    if op is None or _sole_user(v) is not total:
        return None
    bias = bias_value = None
    if op.name == "nn.add":
        for mm_v, other in ((op.operand(0), op.operand(1)), (op.operand(1), op.operand(0))):
            b = constant_value(other)
            mm = mm_v.defining_op
            if b is not None and mm is not None and mm.name == "nn.matmul" and _sole_user(mm_v) is op:
                op, bias, bias_value = mm, b, other
                break
        else:
            return None
    if op.name != "nn.matmul":
        return None
    w, a = constant_value(op.operand(1)), op.operand(0)
    a_t, y_t = a.type, op.results[0].type
    if w is None or w.ndim != 2 or not getattr(a_t, "is_static", False) or not y_t.dtype.is_float:  # type: ignore[attr-defined]
        return None
    if bias is not None and (bias.shape[-1:] != (w.shape[1],) or any(d != 1 for d in bias.shape[:-1])):
        return None
    return _Term(op, np.asarray(w), bias, bias_value, v)


def _provenance(v: Value | None) -> list[str]:
    """The source weights a constant was made from (its ``derived_from`` names, else its own)."""
    if v is None:
        return []
    derived = v.defining_op.attributes.get("derived_from") if v.defining_op is not None else None
    if derived:
        return [n for n in derived[1:] if isinstance(n, str) and n]
    return [n for n in [_source(v)] if n]


def _ops(t: _Term) -> list[Operation]:
    return [op for op in dict.fromkeys([t.matmul, t.end.defining_op]) if op is not None]


def _merge(module: Any, rw: Rewriter, total: Operation, terms: list[_Term], pin: Any) -> None:
    loc = fuse_locs(*(t.matmul.loc for t in terms))
    w = new_weight(
        rw,
        module,
        np.concatenate([t.weight for t in terms], axis=0),
        "+".join(_name(t.matmul.operand(1)) for t in terms),
        total,
        ("concat_rows", *(n for t in terms for n in _provenance(t.matmul.operand(1)))),
    )
    made = []
    with rw.at(before=total):
        joined = rw.create(nn.Concat, [t.matmul.operand(0) for t in terms], axis=-1, loc=loc)
        product = rw.create(nn.MatMul, joined.results[0], w, loc=loc)
        made += [joined, product]
        y = product.results[0]
    biases = [t.bias.reshape(-1) for t in terms if t.bias is not None]
    if biases:
        bias = new_weight(
            rw,
            module,
            np.sum(np.stack([b.astype(np.float64) for b in biases]), axis=0).astype(biases[0].dtype),
            "+".join(_name(t.bias_value) for t in terms if t.bias_value is not None),
            total,
            ("sum", *(n for t in terms for n in _provenance(t.bias_value))),
        )
        with rw.at(before=total):
            add = rw.create(nn.Add, y, bias, loc=loc)
            made.append(add)
            y = add.results[0]
    if pin is not None:  # a precision pin (an FP32 layer) stays on what replaces it
        for op in made:
            op.attributes["precision"] = pin
    rw.replace_all_uses_with(total.results[0], y)
    rw.erase_op(total)
    for t in terms:
        for op in dict.fromkeys([t.end.defining_op, t.matmul]):
            if op is not None and op.parent is not None:
                rw.erase_op(op)


@register_pass
@dataclass(frozen=True)
class MergeSummedMatmuls(Pass):
    """Merge ``(a1 @ W1 + b1) + (a2 @ W2 + b2)`` into one product over the concatenated inputs.

    Requires: nn IR. Guarantees: for every ``nn.add`` of two float products with 2-D constant weights
    of the same width and inputs of the same static shape but the last axis, each optionally plus a
    constant bias and read by the add alone: one matmul of ``concat(a1, a2, axis=-1)`` by the weights
    stacked (rows of W1, then W2), plus the summed biases, replaces the add. Values are unchanged up
    to float rounding.
    """

    name = "merge-summed-matmuls"

    def run(self, module: Any) -> dict[str, int]:
        rw = Rewriter()
        merged = 0
        for func in module.functions:
            for op in list(func.block.ops):
                if op.parent is None or op.name != "nn.add" or op.operand(0) is op.operand(1):
                    continue
                terms = [_term(op.operand(0), op), _term(op.operand(1), op)]
                if any(t is None for t in terms):
                    continue
                t1, t2 = terms  # type: ignore[misc]
                a1, a2 = t1.matmul.operand(0).type, t2.matmul.operand(0).type  # type: ignore[union-attr]
                same_rows = a1.shape[:-1] == a2.shape[:-1] and a1.dtype == a2.dtype
                if (
                    not same_rows
                    or t1.weight.shape[1] != t2.weight.shape[1]
                    or t1.weight.dtype != t2.weight.dtype
                ):  # type: ignore[union-attr]
                    continue
                if op.results[0].type != t1.matmul.results[0].type:  # type: ignore[union-attr]
                    continue  # (a broadcasting sum)
                pins = {o.attributes.get("precision") for t in terms for o in _ops(t)}  # type: ignore[arg-type]
                pins.add(op.attributes.get("precision"))
                if len(pins) > 1:
                    continue  # (a pinned term beside an unpinned one: merged, one would lose its pin)
                _merge(module, rw, op, terms, pins.pop())  # type: ignore[arg-type]
                merged += 1
        return {"summed matmuls merged": merged}
