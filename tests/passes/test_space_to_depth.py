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
