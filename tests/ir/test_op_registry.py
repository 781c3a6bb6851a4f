"""Every registered op has: an executable case (round-trip + reference vs an independent oracle) and
an expected-diagnostic test in tests/filecheck/verify."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import tritium.ir as ir
from tests.ir.op_cases import CASES
from tritium.cli.diagnostics import expectations

VERIFY_DIR = Path(__file__).parent.parent / "filecheck" / "verify"
ALL_CASES = [(name, i, case) for name, cases in CASES.items() for i, case in enumerate(cases)]


def test_every_op_has_a_case() -> None:
    covered = set(CASES) | {op for cases in CASES.values() for c in cases for op in c.ops}
    missing = sorted(set(ir.OP_REGISTRY) - covered)
    assert not missing, f"ops without a case in tests/ir/op_cases.py: {missing}"


def test_every_op_has_a_verifier_test() -> None:
    tested: set[str] = set()
    for path in VERIFY_DIR.glob("*.tir"):
        lines = path.read_text().split("\n")
        for line_no, _ in expectations(path.read_text()):
            text = lines[line_no - 1]
            tested.update(re.findall(r"\b(?:nn|func|quant|kernel)\.\w+", text))
            if re.match(r"\s*module\b", text):
                tested.add("builtin.module")
    missing = sorted(set(ir.OP_REGISTRY) - tested)
    assert not missing, f"ops without an expected-error test in tests/filecheck/verify: {missing}"


@pytest.mark.parametrize("name,index,case", ALL_CASES, ids=[f"{n}-{i}" for n, i, _ in ALL_CASES])
def test_case_roundtrips(name: str, index: int, case) -> None:
    module = ir.parse_ir(case.ir)
    ir.verify(module)
    text = ir.print_ir(module)
    again = ir.print_ir(ir.parse_ir(text))
    assert again == text
    generic = ir.print_ir(module, generic=True)
    assert ir.print_ir(ir.parse_ir(generic)) == text
    assert name in text or name == "builtin.module"


@pytest.mark.parametrize("name,index,case", ALL_CASES, ids=[f"{n}-{i}" for n, i, _ in ALL_CASES])
def test_case_reference_matches_oracle(name: str, index: int, case, rng: np.random.Generator) -> None:
    module = ir.parse_ir(case.ir)
    inputs = case.inputs(rng)
    got = ir.run_reference(module, inputs)
    want = case.oracle(*inputs)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        if isinstance(w, list):  # a sequence value
            assert isinstance(g, list) and len(g) == len(w)
            pairs = list(zip(g, w))
        else:
            pairs = [(g, w)]
        for gi, wi in pairs:
            gi, wi = np.asarray(gi), np.asarray(wi)
            assert gi.shape == wi.shape and gi.dtype == wi.dtype, (gi.shape, gi.dtype, wi.shape, wi.dtype)
            if gi.dtype.kind in "fc":
                assert not np.isnan(gi).any() or np.array_equal(np.isnan(gi), np.isnan(wi))
                g64, w64 = (
                    np.nan_to_num(gi.astype(np.complex128 if gi.dtype.kind == "c" else np.float64)),
                    np.nan_to_num(wi.astype(np.complex128 if wi.dtype.kind == "c" else np.float64)),
                )
                err = np.linalg.norm(g64 - w64) / max(np.linalg.norm(w64), 1e-30)
                assert err <= case.rtol, f"relative error {err:.3g}"
            else:  # integers, bools and strings compare exactly
                assert np.array_equal(gi, wi), (gi, wi)
