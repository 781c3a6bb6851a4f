"""The reference interpreter's checks and errors."""

from __future__ import annotations

import numpy as np
import pytest

import tritium.ir as ir

NAMED = """func.func @main(%a: tensor<{n}x3xf32>, %b: tensor<{n}x3xf32>) -> tensor<{n}x3xf32> attributes {input_names = ["a", "b"], output_names = ["y"]} {
  %y = nn.add %a, %b : tensor<{n}x3xf32>
  func.return %y : tensor<{n}x3xf32>
}"""


def test_named_inputs_and_outputs(rng: np.random.Generator) -> None:
    m = ir.parse_ir(NAMED)
    a, b = rng.standard_normal((2, 5, 3)).astype(np.float32)
    out = ir.Interpreter(m).run_named({"a": a, "b": b})
    np.testing.assert_allclose(out["y"], a + b, rtol=1e-6)


def test_named_dim_must_agree() -> None:
    m = ir.parse_ir(NAMED)
    with pytest.raises(ir.ReferenceError, match="size 4 for dimension 'n', which is 5 elsewhere"):
        ir.run_reference(m, [np.ones((5, 3), np.float32), np.ones((4, 3), np.float32)])


def test_input_errors_name_the_input() -> None:
    m = ir.parse_ir(NAMED)
    with pytest.raises(ir.ReferenceError, match="input 'b' should have element type f32, got numpy float64"):
        ir.run_reference(m, {"a": np.ones((2, 3), np.float32), "b": np.ones((2, 3))})
    with pytest.raises(ir.ReferenceError, match=r"missing \['b'\]"):
        ir.run_reference(m, {"a": np.ones((2, 3), np.float32)})


def test_op_failure_names_op_and_shapes() -> None:
    text = """func.func @main(%x: tensor<?x4xf32>, %s: tensor<2xi64>) -> tensor<?x?xf32> {
  %y = nn.reshape %x, %s : (tensor<?x4xf32>, tensor<2xi64>) -> tensor<?x?xf32> loc("Reshape_7")
  func.return %y : tensor<?x?xf32>
}"""
    m = ir.parse_ir(text)
    with pytest.raises(
        ir.ReferenceError,
        match=r"'nn.reshape' op at loc\(\"Reshape_7\"\) failed on inputs \(float32\[3,4\], int64\[2\]\)",
    ):
        ir.run_reference(m, [np.ones((3, 4), np.float32), np.array([5, 5])])


def test_missing_weights_are_reported() -> None:
    text = """func.func @main(%x: tensor<2xf32>) -> tensor<2xf32> {
  %w = nn.constant dense_resource<w> : tensor<2xf32>
  %y = nn.add %x, %w : tensor<2xf32>
  func.return %y : tensor<2xf32>
}"""
    with pytest.raises(ValueError, match="weight 'w' has no data"):
        ir.run_reference(ir.parse_ir(text), [np.ones(2, np.float32)])
