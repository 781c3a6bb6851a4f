"""Cases for control-flow ops: nn.if, nn.loop, nn.scan."""

from __future__ import annotations

import numpy as np

from tests.ir.op_cases.base import OpCase

LOOP = """func.func @main(%y0: tensor<3xf32>, %x: tensor<3xf32>) -> (tensor<3xf32>, tensor<4x3xf32>) {
  %m = nn.constant dense<4> : tensor<i64>
  %y, %s = nn.loop %m, %y0 {operand_segments = [1, 0, 1]} {
  ^bb0(%i: tensor<i64>, %c: tensor<i1>, %yin: tensor<3xf32>):
    %a = nn.add %yin, %x : tensor<3xf32>
    nn.yield %c, %a, %a : (tensor<i1>, tensor<3xf32>, tensor<3xf32>) -> ()
  } : (tensor<i64>, tensor<3xf32>) -> (tensor<3xf32>, tensor<4x3xf32>)
  func.return %y, %s : tensor<3xf32>, tensor<4x3xf32>
}"""

WHILE = """func.func @main(%y0: tensor<2xf32>) -> (tensor<2xf32>, tensor<?x2xf32>) {
  %c0 = nn.constant dense<true> : tensor<i1>
  %m = nn.constant dense<3> : tensor<i64>
  %y, %s = nn.loop %m, %c0, %y0 {operand_segments = [1, 1, 1]} {
  ^bb0(%i: tensor<i64>, %c: tensor<i1>, %yin: tensor<2xf32>):
    %a = nn.mul %yin, %yin : tensor<2xf32>
    nn.yield %c, %a, %yin : (tensor<i1>, tensor<2xf32>, tensor<2xf32>) -> ()
  } : (tensor<i64>, tensor<i1>, tensor<2xf32>) -> (tensor<2xf32>, tensor<?x2xf32>)
  func.return %y, %s : tensor<2xf32>, tensor<?x2xf32>
}"""

SCAN = """func.func @main(%s0: tensor<2xf32>, %x: tensor<2x5xf32>) -> (tensor<2xf32>, tensor<2x5xf32>) {
  %s, %ys = nn.scan %s0, %x {num_scan_inputs = 1, scan_input_axes = [1], scan_input_directions = [1], scan_output_axes = [1], scan_output_directions = [0]} {
  ^bb0(%acc: tensor<2xf32>, %col: tensor<2xf32>):
    %a = nn.add %acc, %col : tensor<2xf32>
    nn.yield %a, %a : (tensor<2xf32>, tensor<2xf32>) -> ()
  } : (tensor<2xf32>, tensor<2x5xf32>) -> (tensor<2xf32>, tensor<2x5xf32>)
  func.return %s, %ys : tensor<2xf32>, tensor<2x5xf32>
}"""


def _loop_oracle(y0: np.ndarray, x: np.ndarray) -> list[np.ndarray]:
    steps = np.arange(1, 5, dtype=np.float32)[:, None]
    return [y0 + 4 * x, y0[None, :] + steps * x[None, :]]


def _while_oracle(y0: np.ndarray) -> list[np.ndarray]:
    powers = [y0 ** (2**k) for k in range(4)]
    return [powers[3], np.stack(powers[:3])]


def _scan_oracle(s0: np.ndarray, x: np.ndarray) -> list[np.ndarray]:
    rev = np.cumsum(x[:, ::-1], axis=1) + s0[:, None]  # backward scan, outputs in iteration order
    return [rev[:, -1], rev]


CASES = {
    "nn.if": [
        OpCase(
            "func.func @main(%c: tensor<i1>, %x: tensor<3xf32>) -> tensor<3xf32> {\n"
            "  %y = nn.if %c {\n    %a = nn.exp %x : tensor<3xf32>\n    nn.yield %a : (tensor<3xf32>) -> ()\n"
            "  } {\n    %b = nn.neg %x : tensor<3xf32>\n    nn.yield %b : (tensor<3xf32>) -> ()\n"
            "  } : (tensor<i1>) -> tensor<3xf32>\n  func.return %y : tensor<3xf32>\n}",
            lambda g: [np.array(g.random() < 0.5), g.standard_normal(3).astype(np.float32)],
            lambda c, x: [np.exp(x) if c else -x],
            ops=("nn.yield",),
        )
    ],
    "nn.loop": [
        OpCase(LOOP, lambda g: [g.standard_normal(3).astype(np.float32) for _ in range(2)], _loop_oracle),
        OpCase(WHILE, lambda g: [g.uniform(0.5, 1.5, 2).astype(np.float32)], _while_oracle),
    ],
    "nn.scan": [
        OpCase(
            SCAN,
            lambda g: [g.standard_normal(2).astype(np.float32), g.standard_normal((2, 5)).astype(np.float32)],
            _scan_oracle,
        )
    ],
}
