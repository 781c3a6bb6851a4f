"""Every pass preserves the reference semantics: each pass test file's functions give the same
outputs before and after the pass on fresh random inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tritium.ir as ir
from tritium.passes import PassManager

PASS_FILES = sorted((Path(__file__).parent.parent / "filecheck" / "passes").glob("*.tir"))


def random_inputs(func, rng: np.random.Generator) -> list[np.ndarray]:
    out = []
    for a in func.args:
        t = a.type
        shape = [d if isinstance(d, int) else 3 for d in t.shape]
        if t.dtype.is_float:
            out.append(rng.standard_normal(shape).astype(t.dtype.np_dtype))
        else:
            out.append(rng.integers(-5, 6, shape).astype(t.dtype.np_dtype))
    return out


def pipelines(path: Path) -> list[str]:
    import re

    return [p.strip("\"'") for p in re.findall(r"-p (\S+)", path.read_text())]


@pytest.mark.parametrize("path", PASS_FILES, ids=[p.name for p in PASS_FILES])
def test_pass_preserves_semantics(path: Path, rng: np.random.Generator) -> None:
    for pipeline in pipelines(path):
        before = ir.parse_ir(path.read_text())
        after = ir.parse_ir(path.read_text())
        PassManager(pipeline).run(after)
        for f_before in before.functions:
            f_after = after.lookup(f_before.sym_name)
            inputs = random_inputs(f_after, rng)  # the pass may have made the shapes more precise
            narrowed = "io=true" in pipeline  # lower-precision's inputs and outputs narrowed too
            theirs = (
                [x.astype(a.type.dtype.np_dtype) for x, a in zip(inputs, f_before.args)]
                if narrowed
                else inputs
            )
            want = ir.Interpreter(before).run(theirs, f_before)
            got = ir.Interpreter(after).run(inputs, f_after)
            for w, g in zip(want, got):
                assert w.shape == g.shape and (w.dtype == g.dtype or narrowed)
                assert not np.isnan(g).any()
                scale = max(np.linalg.norm(w.astype(np.float64)), 1e-30)
                # f16 pipelines vs the f32 reference: 1e-2 (issue 4). bf16 keeps 8 significant bits to
                # f16's 11: rounding a softmax's logits alone costs up to ~1% (a CI draw measured 1.02e-2).
                tol = 2e-2 if "bf16" in pipeline else 1e-2 if "lower-precision" in pipeline else 1e-5
                assert np.linalg.norm((w - g).astype(np.float64)) / scale <= tol, (
                    pipeline,
                    f_before.sym_name,
                )
