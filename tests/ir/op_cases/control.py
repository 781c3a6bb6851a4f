"""Cases for control-flow ops."""

from __future__ import annotations

import numpy as np

from tests.ir.op_cases.base import OpCase

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
}
