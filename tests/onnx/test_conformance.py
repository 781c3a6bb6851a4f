"""Every ONNX node-suite case with standard dtypes: it passes, or it is listed (with its reason) in
conformance_xfail.txt. A listed case that passes fails the test, so the list only shrinks."""

from __future__ import annotations

import pytest

from tests.onnx.conformance import read_xfail, run_case, standard_cases

CASES = standard_cases()
XFAIL = read_xfail()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_onnx_node_case(case) -> None:
    reason = run_case(case)
    if case.name in XFAIL:
        if reason is None:
            pytest.fail(f"{case.name} passes now: remove it from tests/onnx/conformance_xfail.txt")
        pytest.xfail(XFAIL[case.name])
    assert reason is None, reason


def test_xfail_list_names_real_cases() -> None:
    names = {c.name for c in CASES}
    stale = sorted(set(XFAIL) - names)
    assert not stale, f"xfail entries that are not standard cases: {stale[:10]}"


def test_suite_size() -> None:
    assert len(CASES) > 1600
