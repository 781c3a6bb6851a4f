"""Pipelines, the pass manager's instrumentation and failure handling, and the pattern driver."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import tritium.ir as ir
from tritium.ir.dialects import nn
from tritium.passes import (
    PassError,
    PassManager,
    PipelineError,
    apply_patterns_greedily,
    parse_pipeline,
    pattern,
    pipeline_text,
)
from tritium.passes.base import Pass
from tritium.passes.patterns import NonConvergenceError

TEXT = """func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  %one = nn.constant dense<1.0> : tensor<4xf32>
  %a = nn.mul %x, %one : tensor<4xf32>
  %b = nn.relu %a : tensor<4xf32>
  func.return %b : tensor<4xf32>
}"""


def test_pipeline_text_roundtrip() -> None:
    text = "canonicalize,cse,fold-constants{max-bytes=64},dce"
    assert pipeline_text(parse_pipeline(text)) == text
    assert (
        pipeline_text(parse_pipeline(" canonicalize , fold-constants{max-bytes=1048576} "))
        == "canonicalize,fold-constants"
    )


@pytest.mark.parametrize(
    "bad,msg",
    [
        ("canonicalise", "unknown pass 'canonicalise'"),
        ("fold-constants{max-bites=3}", "has no option 'max-bites' \\(options: max-bytes\\)"),
        ("fold-constants{max-bytes=lots}", "option 'max-bytes': bad value 'lots'"),
        ("fold-constants{max-bytes=1", "unclosed"),
        ("cse{x}", "must be written key=value"),
    ],
)
def test_pipeline_errors(bad: str, msg: str) -> None:
    with pytest.raises(PipelineError, match=msg):
        parse_pipeline(bad)


@dataclass(frozen=True)
class BreakTypes(Pass):
    """Test pass: changes a result type so that the IR no longer verifies."""

    name = "break-types"

    def run(self, module: Any) -> None:
        relu = next(op for op in module.walk() if op.name == "nn.relu")
        ir.Rewriter().set_type(relu.out, ir.tensor((5,), ir.DType.parse("f32")))


@dataclass(frozen=True)
class Crash(Pass):
    """Test pass: raises."""

    name = "crash"

    def run(self, module: Any) -> None:
        raise RuntimeError("boom")


def test_verify_after_each_pass_names_the_pass(tmp_path: Path) -> None:
    m = ir.parse_ir(TEXT)
    pm = PassManager([*parse_pipeline("cse"), BreakTypes()], reproducer=tmp_path / "repro.tir")
    with pytest.raises(PassError) as e:
        pm.run(m)
    msg = str(e.value)
    assert "pass 'break-types' (#2 of pipeline 'cse,break-types') left invalid IR" in msg
    assert "'func.func' op" in msg or "'nn.relu' op" in msg
    assert "reproducer written to" in msg
    repro = (tmp_path / "repro.tir").read_text()
    assert repro.startswith("// configuration: -p 'break-types'")
    ir.verify(ir.parse_ir(repro))  # the IR before the failing pass is valid


def test_exception_in_pass_is_wrapped() -> None:
    with pytest.raises(
        PassError, match=r"pass 'crash' \(#1 of pipeline 'crash'\) failed:\nRuntimeError: boom"
    ):
        PassManager([Crash()]).run(ir.parse_ir(TEXT))


def test_invalid_input_is_reported_before_any_pass() -> None:
    m = ir.parse_ir(TEXT.replace("-> tensor<4xf32> {", "-> tensor<3xf32> {", 1))
    with pytest.raises(PassError, match="the input IR is invalid, before any pass"):
        PassManager("cse").run(m)


def test_print_after_change_prints_only_changing_passes() -> None:
    out = io.StringIO()
    m = ir.parse_ir(TEXT)
    report = PassManager("cse,canonicalize,dce", print_after_change=True, out=out).run(m)
    text = out.getvalue()
    assert "IR Dump After canonicalize (#2 of 3)" in text
    assert "After cse" not in text and "After dce" not in text
    assert [r.changed for r in report.records] == [False, True, False]
    assert report.records[1].stats["fold nn.mul"] == 1
    assert "Total Execution Time" in report.timing_table()


def test_print_after_all_and_before_all() -> None:
    out = io.StringIO()
    PassManager("cse,dce", print_after_all=True, print_before_all=True, out=out).run(ir.parse_ir(TEXT))
    text = out.getvalue()
    assert text.count("IR Dump Before") == 2 and text.count("IR Dump After") == 2


@pattern
def relu_to_neg(op: nn.Relu, rw: ir.Rewriter) -> bool:
    """relu(x) -> neg(x)   (test pattern)"""
    rw.replace_op_with(op, nn.Neg, op.x)
    return True


@pattern
def neg_to_relu(op: nn.Neg, rw: ir.Rewriter) -> bool:
    """neg(x) -> relu(x)   (test pattern)"""
    rw.replace_op_with(op, nn.Relu, op.x)
    return True


def test_driver_counts_and_converges() -> None:
    m = ir.parse_ir(TEXT)
    counts = apply_patterns_greedily(m, [relu_to_neg])
    assert counts["relu_to_neg"] == 1
    assert any(op.name == "nn.neg" for op in m.walk())
    ir.verify(m)


def test_driver_detects_non_convergence() -> None:
    m = ir.parse_ir(TEXT)
    with pytest.raises(
        NonConvergenceError, match="did not converge; most applied: (relu_to_neg|neg_to_relu)"
    ):
        apply_patterns_greedily(m, [relu_to_neg, neg_to_relu])


def test_pattern_needs_root_and_docstring() -> None:
    with pytest.raises(TypeError, match="annotate the first parameter"):
        pattern(lambda op, rw: False)

    def undocumented(op: nn.Relu, rw: ir.Rewriter) -> bool:
        return False

    with pytest.raises(TypeError, match="docstring"):
        pattern(undocumented)
