"""The ONNX backend node-test suite, regenerated from the case generators in the installed `onnx`,
run through ``tritium.compile(..., backend="reference")``.

    python -m tests.onnx.conformance                 # pass counts, failures grouped by op type
    python -m tests.onnx.conformance --write-xfail   # rewrite conformance_xfail.txt from this run
    python -m tests.onnx.conformance -k conv         # only cases whose name contains "conv"

Comparison follows onnx's own backend runner: floats with rtol=1e-3, atol=1e-7 (NaN equal to NaN),
integers, bools and strings exactly, shapes and dtypes exactly.
"""

from __future__ import annotations

import argparse
import collections
import functools
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

XFAIL_FILE = Path(__file__).parent / "conformance_xfail.txt"
STANDARD = {
    "float32",
    "float64",
    "float16",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool",
    "object",
}
"""Element types counted as standard (object = ONNX strings); values may also be sequences or None."""


@dataclass(frozen=True)
class Case:
    name: str
    model: Any
    data_sets: list
    op_type: str


def _dtypes(v: Any, acc: set[str]) -> None:
    if isinstance(v, np.ndarray):
        acc.add(v.dtype.name)
    elif isinstance(v, list | tuple):
        for x in v:
            _dtypes(x, acc)
    elif v is None:
        pass
    else:
        acc.add(type(v).__name__)


def is_standard(case: Case) -> bool:
    acc: set[str] = set()
    for ins, outs in case.data_sets:
        for v in [*ins, *outs]:
            _dtypes(v, acc)
    return acc <= STANDARD


@functools.lru_cache(maxsize=1)
def all_cases() -> list[Case]:
    from onnx.backend.test.case import node

    np.random.seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = node.collect_testcases()
    return [
        Case(c.name, c.model, list(c.data_sets), c.model.graph.node[0].op_type if c.model.graph.node else "")
        for c in cases
    ]


def standard_cases() -> list[Case]:
    return [c for c in all_cases() if is_standard(c)]


def read_xfail() -> dict[str, str]:
    out = {}
    if XFAIL_FILE.exists():
        for line in XFAIL_FILE.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                name, _, reason = line.partition(" ")
                out[name] = reason.strip().lstrip("#").strip()
    return out


def compare(name: str, want: Any, got: Any) -> None:
    """Raise AssertionError describing the first difference."""
    if isinstance(want, list):
        assert isinstance(got, list), f"{name}: expected a sequence, got {type(got).__name__}"
        assert len(want) == len(got), f"{name}: sequence of {len(got)} tensors, expected {len(want)}"
        for i, (w, g) in enumerate(zip(want, got)):
            compare(f"{name}[{i}]", w, g)
        return
    if want is None:
        assert got is None, f"{name}: expected none, got a value"
        return
    assert isinstance(got, np.ndarray), f"{name}: expected an array, got {type(got).__name__}"
    assert got.shape == want.shape, f"{name}: shape {list(got.shape)}, expected {list(want.shape)}"
    assert got.dtype == want.dtype, f"{name}: dtype {got.dtype}, expected {want.dtype}"
    if want.dtype.kind in "fc":
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-7, err_msg=name)
    else:
        np.testing.assert_array_equal(got, want, err_msg=name)


def compare_sample(name: str, want: Any, got: Any) -> None:
    """A Bernoulli draw: its expected values are one random sample, which no backend reproduces
    except by chance (a case "passed" when the draws happened to agree). Compared are the shape,
    the dtype and the support: every value 0 or 1."""
    assert isinstance(got, np.ndarray), f"{name}: expected an array, got {type(got).__name__}"
    assert got.shape == want.shape, f"{name}: shape {list(got.shape)}, expected {list(want.shape)}"
    assert got.dtype == want.dtype, f"{name}: dtype {got.dtype}, expected {want.dtype}"
    assert np.isin(got, (0, 1)).all(), f"{name}: values outside {{0, 1}}: {np.unique(got)[:5]}"


def run_case(case: Case) -> str | None:
    """None when the case passes, else a one-line reason."""
    import tritium

    try:
        engine = tritium.compile(case.model, backend="reference")
    except Exception as e:
        return f"import: {type(e).__name__}: {str(e).splitlines()[-1].strip()}"
    outputs = [o.name for o in case.model.graph.output]
    for ins, outs in case.data_sets:
        try:
            got = engine(dict(zip(engine.input_names, ins)))
        except Exception as e:
            return f"run: {type(e).__name__}: {str(e).splitlines()[0][:300]}"
        try:
            for name, want in zip(outputs, outs):
                (compare_sample if case.name.startswith("test_bernoulli") else compare)(name, want, got[name])
        except AssertionError as e:
            lines = [ln for ln in str(e).splitlines() if ln.strip()]
            return "mismatch: " + " | ".join(lines[:4])[:300]
    return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-k", default="", help="only cases whose name contains this")
    ap.add_argument("--write-xfail", action="store_true", help="rewrite the xfail list from this run")
    ap.add_argument("--all", action="store_true", help="also run cases with non-standard dtypes")
    args = ap.parse_args()
    cases = all_cases() if args.all else standard_cases()
    cases = [c for c in cases if args.k in c.name]
    failures: dict[str, str] = {}
    for c in cases:
        reason = run_case(c)
        if reason is not None:
            failures[c.name] = reason
    by_op: dict[str, list[str]] = collections.defaultdict(list)
    for c in cases:
        if c.name in failures:
            m = re.search(r"'[^']*' \((\w+)\): ", failures[c.name])  # the node that failed, when named
            by_op[m.group(1) if m else c.op_type].append(c.name)
    for op, names in sorted(by_op.items(), key=lambda kv: -len(kv[1])):
        print(f"{op}: {len(names)} failing")
        for n in names[:50]:
            print(f"    {n}: {failures[n]}")
    passed = len(cases) - len(failures)
    print(
        f"\n{passed} of {len(cases)} cases pass ({100 * passed / max(len(cases), 1):.1f}%)"
        f"; {len(all_cases())} cases in the suite, {len(standard_cases())} with standard dtypes"
    )
    if args.write_xfail:
        if args.k or args.all:
            raise SystemExit("--write-xfail needs the full standard run (no -k, no --all)")
        lines = [
            "# ONNX node-suite cases that fail today, with the reason (tests/onnx/conformance.py).",
            "# Regenerate: python -m tests.onnx.conformance --write-xfail",
        ]
        lines += [f"{n}  # {failures[n]}" for n in sorted(failures)]
        XFAIL_FILE.write_text("\n".join(lines) + "\n")
        print(f"wrote {XFAIL_FILE}")


if __name__ == "__main__":
    main()
