"""fold-batch-norm: inference batch normalization into the preceding conv, or into a scale and shift.

    y = (x - mean) / sqrt(var + eps) * gamma + beta = x * s + t,   s = gamma / sqrt(var + eps), t = beta - mean * s

After a conv whose weight (and bias) are constants and whose result only the batch norm reads, s
and t fold into the weight and bias: w' = w * s (per output channel), b' = b * s + t. Otherwise the
batch norm becomes a multiply and an add by per-channel constants, which fuse with their
neighbours. The folded constants record where they came from (``derived_from``), so the refitter
can recompute them from new source weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tritium.ir.attributes import ResourceRef
from tritium.ir.core import Operation, Value
from tritium.ir.dialects import nn
from tritium.ir.opdef import constant_value
from tritium.ir.rewriter import Rewriter
from tritium.passes.base import Pass, register_pass


def _source_name(v: Value) -> str | None:
    op = v.defining_op
    value = op.attributes.get("value") if op is not None else None
    return value.name if isinstance(value, ResourceRef) else None


def new_weight(
    rw: Rewriter, module: Any, arr: np.ndarray, name: str, before: Operation, derived: tuple | None = None
) -> Value:
    """A constant (a module resource when large) placed before ``before``, with its provenance."""
    with rw.at(before=before):
        c = rw.insert(nn.Constant.of(arr, module, name, before.loc))
    if derived is not None:
        c.attributes["derived_from"] = derived
    c.out.name_hint = name
    return c.out


@register_pass
@dataclass(frozen=True)
class FoldBatchNorm(Pass):
    """Remove inference batch normalizations.

    Requires: nn IR with constant batch-norm parameters (``training_mode`` false). Guarantees: each
    such batch norm is folded into the conv that feeds it (when the conv's weight and bias are
    constants and the batch norm is its only user), or replaced by ``x * s + t`` with per-channel
    constants. Values are unchanged up to float rounding.
    """

    name = "fold-batch-norm"

    def run(self, module: Any) -> dict[str, int]:
        rw = Rewriter()
        stats = {"folded into conv": 0, "turned into scale and shift": 0}
        for op in list(module.walk()):
            if op.name != "nn.batch_normalization" or op.parent is None or op.attributes.get("training_mode"):
                continue
            if any(r.uses for r in op.results[1:]):
                continue
            params = [constant_value(v) for v in op.operands[1:5]]
            if any(p is None for p in params):
                continue
            gamma, beta, mean, var = (np.asarray(p, np.float64) for p in params)  # type: ignore[arg-type]
            s = gamma / np.sqrt(var + op.attributes.get("epsilon", 1e-5))
            t = beta - mean * s
            sources = tuple(_source_name(v) or "" for v in op.operands[1:5])
            if self._fold_into_conv(module, rw, op, s, t, sources):
                stats["folded into conv"] += 1
            else:
                self._scale_shift(module, rw, op, s, t, sources)
                stats["turned into scale and shift"] += 1
        return stats

    @staticmethod
    def _fold_into_conv(
        module: Any, rw: Rewriter, bn: Operation, s: np.ndarray, t: np.ndarray, sources: tuple
    ) -> bool:
        conv = bn.operand(0).defining_op
        if conv is None or conv.name != "nn.conv" or not conv.results[0].has_one_use:
            return False
        w = constant_value(conv.operand(1))
        b = (
            constant_value(conv.operand(2))
            if conv.num_operands > 2
            else np.zeros(w.shape[0] if w is not None else 0)
        )
        if w is None or b is None or w.shape[0] != s.shape[0]:
            return False
        eps = bn.attributes.get("epsilon", 1e-5)
        w_src, b_src = (
            _source_name(conv.operand(1)) or "",
            (_source_name(conv.operand(2)) or "") if conv.num_operands > 2 else "",
        )
        shape = (-1,) + (1,) * (w.ndim - 1)
        w2 = (w.astype(np.float64) * s.reshape(shape)).astype(w.dtype)
        b2 = (b.astype(np.float64) * s + t).astype(w.dtype)
        wv = new_weight(
            rw,
            module,
            w2,
            (w_src or "conv") + ".bn_folded",
            conv,
            ("bn_fold_weight", w_src, *sources, float(eps)),
        )
        bv = new_weight(
            rw,
            module,
            b2,
            (b_src or w_src or "conv") + ".bn_folded_bias",
            conv,
            ("bn_fold_bias", b_src, *sources, float(eps)),
        )
        with rw.at(before=conv):
            new = rw.create(
                nn.Conv,
                conv.operand(0),
                wv,
                bv,
                strides=conv.strides,
                pads=conv.pads,
                dilations=conv.dilations,
                group=conv.group,
                loc=_fused_loc(conv, bn),
            )
        for key, val in conv.attributes.items():  # layout and other discardable attributes stay
            if key not in new.attributes:
                new.attributes[key] = val
        rw.replace_op(bn, [new.results[0]] + [None] * (len(bn.results) - 1))
        rw.erase_op(conv)
        return True

    @staticmethod
    def _scale_shift(
        module: Any, rw: Rewriter, bn: Operation, s: np.ndarray, t: np.ndarray, sources: tuple
    ) -> None:
        x = bn.operand(0)
        rank = x.type.rank or 4  # type: ignore[attr-defined]
        dt = x.type.dtype.np_dtype  # type: ignore[attr-defined]
        shape = (-1,) + (1,) * (rank - 2)
        eps = float(bn.attributes.get("epsilon", 1e-5))
        sv = new_weight(rw, module, s.reshape(shape).astype(dt), "bn.scale", bn, ("bn_scale", *sources, eps))
        tv = new_weight(rw, module, t.reshape(shape).astype(dt), "bn.shift", bn, ("bn_shift", *sources, eps))
        with rw.at(before=bn):
            m = rw.create(nn.Mul, x, sv, loc=bn.loc)
            a = rw.create(nn.Add, m.out, tv, loc=bn.loc)
        rw.replace_op(bn, [a.out] + [None] * (len(bn.results) - 1))


def _fused_loc(*ops: Operation) -> Any:
    from tritium.ir.attributes import fuse_locs

    return fuse_locs(*(op.loc for op in ops))
