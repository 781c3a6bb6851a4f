"""lower-precision on inputs that are parameters, not data."""

from __future__ import annotations

import pytest

import tritium.ir as ir
from tritium.passes import PassManager

RESIZE = """func.func @main(%x: tensor<1x1x2x2xf32>, %s: tensor<4xf32>) -> tensor<1x1x4x4xf32> {
  %y = nn.resize %x, %s {operand_segments = [1, 0, 1, 0]} : (tensor<1x1x2x2xf32>, tensor<4xf32>) -> tensor<1x1x4x4xf32>
  func.return %y : tensor<1x1x4x4xf32>
}"""


@pytest.mark.parametrize("io", [False, True])
def test_resize_scales_from_an_input_stay_float32(io: bool) -> None:
    """A resize's scales given as a function input are a parameter: they keep float32 (no narrow
    copy, and with io=true the input itself is not narrowed), and the module verifies."""
    module = ir.parse_ir(RESIZE)
    PassManager(f"lower-precision{{io={'true' if io else 'false'}}}").run(module)
    resize = next(op for op in module.main.block.ops if op.name == "nn.resize")
    scales = resize.operands[1]
    assert scales is module.main.args[1] and str(scales.type) == "tensor<4xf32>"
    assert str(module.main.args[0].type) == ("tensor<1x1x2x2xf16>" if io else "tensor<1x1x2x2xf32>")
