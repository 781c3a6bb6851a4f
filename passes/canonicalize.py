"""canonicalize: per-op folds, canonicalization patterns and dead-op removal, to a fixpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tritium.ir.core import Operation, Value
from tritium.ir.dialects import nn
from tritium.ir.rewriter import Rewriter
from tritium.passes.base import Pass, register_pass
from tritium.passes.canonical_patterns import NN_PATTERNS
from tritium.passes.patterns import apply_patterns_greedily


def materialize_constant(value: np.ndarray, op: Operation, rw: Rewriter) -> Value:
    """An nn.constant for a folded value, before ``op`` (inline when small, else a module resource)."""
    name = (op.loc.names[0] if op.loc is not None else op.name) + ".folded"  # type: ignore[attr-defined]
    with rw.at(before=op):
        if value.dtype.kind in "OUS":  # strings cannot be dense attributes or weights
            return rw.insert(nn.StringConstant.of(value, op.loc)).out
        return rw.insert(nn.Constant.of(value, op.module(), name, op.loc)).out


@register_pass
@dataclass(frozen=True)
class Canonicalize(Pass):
    """Simplify locally until nothing changes.

    Requires: valid IR. Guarantees: every op's ``fold()`` and the nn canonicalization patterns have
    been applied to a fixpoint, and pure ops without uses are gone. Values and types are preserved;
    no pipeline depends on it for correctness. Stops with an error if the rewrites do not converge.
    """

    name = "canonicalize"

    def run(self, module: Any) -> dict[str, int]:
        return dict(apply_patterns_greedily(module, NN_PATTERNS, materialize=materialize_constant))
