"""Cases for the kernel dialect."""

from __future__ import annotations

import numpy as np

from tests.ir.op_cases.base import OpCase

CASES = {
    "kernel.fused": [
        OpCase(
            "func.func @main(%x: tensor<2x3xf32>, %y: tensor<3xf32>) -> tensor<2x3xf32> {\n"
            '  %r = kernel.fused %x, %y {kind = "elementwise"} {\n'
            "  ^bb0(%a: tensor<2x3xf32>, %b: tensor<3xf32>):\n"
            "    %h = nn.constant dense<0.5> : tensor<f32>\n"
            "    %s = nn.add %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>\n"
            "    %t = nn.mul %s, %h : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32>\n"
            "    kernel.yield %t : (tensor<2x3xf32>) -> ()\n"
            "  } : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>\n"
            "  func.return %r : tensor<2x3xf32>\n}",
            lambda g: [g.standard_normal((2, 3)).astype(np.float32), g.standard_normal(3).astype(np.float32)],
            lambda x, y: [((x + y) * 0.5).astype(np.float32)],
            ops=("kernel.yield",),
        )
    ],
}
