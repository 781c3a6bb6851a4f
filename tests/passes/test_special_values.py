"""Every pass keeps the reference semantics on IEEE special values too: inputs laced with +-0,
+-inf, NaN, the float16 maximum, tiny and large values (each in every input over the trials) give
outputs with NaNs and infinities in the same places, zeros of the same sign, and the same finite values (as
test_numerics.py compares them). An identity fold once turned ``x + 0.0`` into ``x``, which is
wrong for x = -0.0; this is the test that would have caught it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tritium.ir as ir
from tests.special_values import SPECIALS, laced, special_mismatch, trials
from tritium.passes import PassManager

from .test_numerics import PASS_FILES, pipelines

NOT_EXACT = {
    (
        "convert-layout.tir",
        "stem",
    ): "the space-to-depth kernel's zero-padded taps turn an infinite pixel into NaN",
    ("convert-layout.tir", "stem_one_channel"): "the same, with one input channel",
    (
        "recognize-attention.tir",
        "sdpa",
    ): "where(isnan(p), 0, p) also zeroed rows made NaN by non-finite q or k; "
    "and nn.attention's reference computes the scores in float64, the decomposed graph in float32",
}
"""Rewrites exact for ordinary finite inputs only (README, "exact for finite inputs only"): these
functions are left to test_numerics.py."""


def special_inputs(func: ir.Operation, rng: np.random.Generator, trial: int) -> list[np.ndarray]:
    """Random inputs of ``func``'s types, the float ones with a tenth of specials at random and laced
    with the ``trial``-th run of them."""
    out = []
    for a in func.args:
        t = a.type
        shape = [d if isinstance(d, int) else 3 for d in t.shape]
        if t.dtype.is_float:
            x = rng.standard_normal(shape)
            x = np.where(rng.random(shape) < 0.1, rng.choice(SPECIALS, size=shape), x)  # a few more
            out.append(laced(x, rng, trial).astype(t.dtype.np_dtype))
        else:
            out.append(rng.integers(-5, 6, shape).astype(t.dtype.np_dtype))
    return out


def float_sizes(func: ir.Operation) -> list[int]:
    return [
        int(np.prod([d if isinstance(d, int) else 3 for d in a.type.shape]))
        for a in func.args
        if a.type.dtype.is_float
    ]


def check_same(want: np.ndarray, got: np.ndarray, where: str) -> None:
    """Special values in the same places; finite values as test_numerics.py compares them."""
    assert want.shape == got.shape, where
    problem, finite = special_mismatch(want, got)
    assert problem is None, f"{where}: {problem}"
    if finite.any():
        w, g = want.astype(np.float64)[finite], got.astype(np.float64)[finite]
        assert np.linalg.norm(w - g) / max(np.linalg.norm(w), 1e-30) <= 1e-5, f"{where}: finite values differ"


def _exact(pipeline: str) -> bool:
    """Pipelines that keep the arithmetic's precision (lower-precision and lower-quant change it:
    test_numerics.py compares those)."""
    return "lower-precision" not in pipeline and "lower-quant" not in pipeline


EXACT_FILES = [p for p in PASS_FILES if any(_exact(q) for q in pipelines(p))]


@pytest.mark.parametrize("path", EXACT_FILES, ids=[p.name for p in EXACT_FILES])
def test_pass_preserves_special_values(path: Path, rng: np.random.Generator) -> None:
    checked = 0
    for pipeline in pipelines(path):
        if not _exact(pipeline):
            continue
        before = ir.parse_ir(path.read_text())
        after = ir.parse_ir(path.read_text())
        PassManager(pipeline).run(after)
        for f_before in before.functions:
            f_after = after.lookup(f_before.sym_name)
            if (path.name, f_before.sym_name) in NOT_EXACT:
                continue
            for trial in range(trials(float_sizes(f_after))):
                inputs = special_inputs(f_after, rng, trial)
                with np.errstate(all="ignore"):
                    want = ir.Interpreter(before).run(inputs, f_before)
                    got = ir.Interpreter(after).run(inputs, f_after)
                for i, (w, g) in enumerate(zip(want, got)):
                    check_same(np.asarray(w), np.asarray(g), f"{pipeline} @{f_before.sym_name} result {i}")
                    checked += 1
    assert checked > 0
