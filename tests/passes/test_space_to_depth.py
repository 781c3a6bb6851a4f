"""convert-layout's space-to-depth stems: which strided convolutions over few channels it rewrites,
and the rewritten graph against the reference on fresh random inputs."""

from __future__ import annotations

import numpy as np
import pytest

import tritium.ir as ir
from tritium.passes import PassManager


def ty(shape: tuple[int, ...]) -> str:
    return "tensor<" + "".join(f"{d}x" for d in shape) + "f32>"


def stem(
    c: int, h: int, w: int, m: int, r: int, s: int, stride: int, pads: tuple[int, ...], rng
) -> tuple[str, int, int]:
    oh = (h + pads[0] + pads[2] - r) // stride + 1
    ow = (w + pads[1] + pads[3] - s) // stride + 1
    wt = rng.standard_normal((m, c, r, s)).round(3)
    lit = np.array2string(
        wt, separator=", ", threshold=10**6, max_line_width=10**6, floatmode="fixed", precision=3
    )
    x, wty, y = ty((2, c, h, w)), ty((m, c, r, s)), ty((2, m, oh, ow))
    text = f"""func.func @main(%x: {x}) -> {y} {{
  %w = nn.constant dense<{lit}> : {wty}
  %y = nn.conv %x, %w {{strides = [{stride}, {stride}], pads = {list(pads)}, dilations = [1, 1]}} : ({x}, {wty}) -> {y}
  func.return %y : {y}
}}"""
    return text, oh, ow


@pytest.mark.parametrize(
    "c,h,w,m,r,s,stride,pads,rewritten",
    [
        (3, 17, 14, 8, 7, 7, 2, (3, 3, 3, 3), True),  # ResNet's stem, odd height
        (3, 16, 16, 4, 8, 8, 4, (2, 2, 2, 2), True),  # stride 4: 4 x 4 x 3 = 48 channels, no padding
        (1, 12, 11, 4, 5, 3, 2, (2, 1, 1, 2), True),  # one channel (padded to 2), R != S, asymmetric pads
        (3, 15, 15, 4, 7, 7, 3, (3, 3, 3, 3), False),  # stride 3: 72 channels for 27: left alone
        (3, 16, 16, 4, 1, 3, 2, (0, 1, 0, 1), False),  # a window narrower than the stride
        (8, 16, 16, 4, 3, 3, 2, (1, 1, 1, 1), False),  # more than 4 channels
    ],
)
def test_stem_rewrite(c, h, w, m, r, s, stride, pads, rewritten, rng: np.random.Generator) -> None:
    text, _, _ = stem(c, h, w, m, r, s, stride, pads, rng)
    module, ref = ir.parse_ir(text), ir.parse_ir(text)
    PassManager("convert-layout,canonicalize,dce").run(module)
    convs = [op for op in module.walk() if op.name == "nn.conv"]
    assert len(convs) == 1
    assert (list(convs[0].attributes["strides"]) == [1, 1]) == rewritten
    if rewritten:  # unpadded, over the space-to-depth image: 16-byte pixel rows of 16-bit values
        assert not any(convs[0].attributes["pads"]) and convs[0].operand(0).type.shape[-1] * 2 % 16 == 0
    x = rng.standard_normal((2, c, h, w)).astype(np.float32)
    want = ir.run_reference(ref, [x])[0]
    got = ir.run_reference(module, [x])[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("zero", [None, 0, -37])
def test_int8_stem_pads_with_the_zero_point(zero: int | None, rng: np.random.Generator) -> None:
    """An int8 stem (conv_integer, 3 channels, stride 2) becomes an int8 convolution over the
    space-to-depth image, padded with the input's zero point (its real zero): the same integers."""
    wt = rng.integers(-128, 128, (8, 3, 7, 7)).astype(np.int8)
    lit = np.array2string(wt, separator=", ", threshold=10**6, max_line_width=10**6)
    x, w, y = "tensor<2x3x13x12xi8>", "tensor<8x3x7x7xi8>", "tensor<2x8x7x6xi32>"
    zop = "" if zero is None else f"  %z = nn.constant dense<{zero}> : tensor<i8>\n"
    zarg, zty = ("", "") if zero is None else (", %z", ", tensor<i8>")
    text = f"""func.func @main(%x: {x}) -> {y} {{
  %w = nn.constant dense<{lit}> : {w}
{zop}  %y = nn.conv_integer %x, %w{zarg} {{strides = [2, 2], pads = [3, 3, 3, 3], dilations = [1, 1]}} : ({x}, {w}{zty}) -> {y}
  func.return %y : {y}
}}"""
    module, ref = ir.parse_ir(text), ir.parse_ir(text)
    PassManager("convert-layout,canonicalize,dce").run(module)
    (conv,) = [op for op in module.walk() if op.name == "nn.conv_integer"]
    assert list(conv.attributes["strides"]) == [1, 1] and conv.operand(0).type.shape[-1] == 16
    pads = [op for op in module.walk() if op.name == "nn.pad"]
    assert len(pads) == 1 and (pads[0].num_operands > 2) == (zero is not None)
    xs = rng.integers(-128, 128, (2, 3, 13, 12)).astype(np.int8)
    np.testing.assert_array_equal(ir.run_reference(module, [xs])[0], ir.run_reference(ref, [xs])[0])
