"""`tritium opt` end to end (in-process)."""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import numpy as np

import tritium.ir as ir
from tritium.cli import main

TEXT = """func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  %one = nn.constant dense<1.0> : tensor<4xf32>
  %a = nn.mul %x, %one : tensor<4xf32>
  %b = nn.relu %a : tensor<4xf32> loc("relu")
  func.return %b : tensor<4xf32>
}
"""


def run(*argv: str, stdin: str | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdin
    if stdin is not None:
        sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(list(argv))
    finally:
        sys.stdin = old
    return rc, out.getvalue(), err.getvalue()


def test_opt_from_stdin_with_timing() -> None:
    rc, out, err = run("opt", "-", "-p", "canonicalize", "--timing", stdin=TEXT)
    assert rc == 0
    assert "nn.mul" not in out and 'nn.relu %x : tensor<4xf32> loc("relu")' in out
    assert "Pass execution timing report" in err and "canonicalize" in err


def test_opt_writes_module_and_weights(tmp_path: Path, rng: np.random.Generator) -> None:
    m = ir.parse_ir(TEXT.replace("dense<1.0> : tensor<4xf32>", "dense_resource<w> : tensor<4xf32>"))
    m.resources["w"] = rng.standard_normal(4).astype(np.float32)
    ir.save_module(m, tmp_path / "in.tir")
    rc, _, err = run("opt", str(tmp_path / "in.tir"), "-p", "cse", "-o", str(tmp_path / "out.tir"))
    assert rc == 0, err
    back = ir.load_module(tmp_path / "out.tir")
    np.testing.assert_array_equal(back.resources["w"], m.resources["w"])


def test_errors_are_messages_not_tracebacks(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tir"
    bad.write_text(TEXT.replace("nn.relu %a", "nn.relu %zz"))
    rc, _, err = run("opt", str(bad))
    assert rc == 1 and "Traceback" not in err
    assert f"{bad}:4:16: error: use of undefined value %zz" in err
    good = tmp_path / "good.tir"
    good.write_text(TEXT)
    rc, _, err = run("opt", str(good), "-p", "nonsense")
    assert rc == 1 and "unknown pass 'nonsense'" in err
    rc, _, err = run("opt", str(tmp_path / "missing.tir"))
    assert rc == 1 and "No such file" in err


def test_verify_diagnostics_fails_on_unmatched_expectation(tmp_path: Path) -> None:
    f = tmp_path / "t.tir"
    f.write_text("// expected-error @+1 {{this is not what happens}}\n" + TEXT)
    rc, _, err = run("opt", str(f), "--verify-diagnostics")
    assert rc == 1 and "expected error not produced: this is not what happens" in err
    f.write_text(TEXT.replace("-> tensor<4xf32> {", "-> tensor<5xf32> {"))
    rc, _, err = run("opt", str(f), "--verify-diagnostics")
    assert rc == 1 and "unexpected error: returns (tensor<4xf32>)" in err


def test_reproducer_reruns_its_pipeline(tmp_path: Path) -> None:
    f = tmp_path / "in.tir"
    f.write_text(TEXT)
    repro = tmp_path / "r.tir"
    repro.write_text("// configuration: -p 'canonicalize'\n" + TEXT)
    rc, out, _ = run("opt", str(repro))
    assert rc == 0 and "nn.mul" not in out


def test_list_passes() -> None:
    rc, out, _ = run("opt", "--list-passes")
    assert rc == 0
    for name in ("canonicalize", "cse", "dce", "fold-constants"):
        assert f"\n{name}\n" in "\n" + out
    assert "Requires:" in out and "max-bytes=1048576" in out
