"""The implicit-GEMM convolution template against the reference: strides, padding, dilation, groups
(depthwise included), 1x1, bias and epilogues with broadcast extra inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tritium.ir as ir
from tritium.codegen import ConvKernel, kernel_for
from tritium.ir.dialects.nn.conv import conv_out_dim
from tritium.passes import PassManager


def ty(shape: tuple[int, ...]) -> str:
    return "tensor<" + "".join(f"{d}x" for d in shape) + "f32>"


CASES = [
    # n, c, h, w, k, r, s, stride, pad, dilation, group
    (2, 3, 9, 8, 5, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),
    (1, 4, 11, 7, 6, 3, 2, (2, 1), (1, 0, 0, 1), (1, 2), 2),
    (2, 6, 8, 8, 6, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 6),  # depthwise
    (1, 40, 9, 9, 40, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 40),  # depthwise, strided, channel blocks
    (1, 16, 5, 5, 24, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1),  # 1x1
    (1, 3, 16, 16, 8, 7, 7, (2, 2), (3, 3, 3, 3), (1, 1), 1),  # a ResNet stem
    (2, 32, 7, 7, 16, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 1),  # NHWC: tap by tap, whole channel blocks
    (1, 20, 6, 6, 8, 3, 3, (1, 1), (1, 1, 1, 1), (2, 1), 1),  # NHWC: a partial channel block
]


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("case", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_conv_matches_reference(case, layout: str, rng: np.random.Generator) -> None:
    n, c, h, w, k, r, s, st, pads, dil, g = case
    oh = conv_out_dim(h, r, st[0], pads[0], pads[2], dil[0])
    ow = conv_out_dim(w, s, st[1], pads[1], pads[3], dil[1])
    if layout == "NCHW":
        x, wt, out, sc = (n, c, h, w), (k, c // g, r, s), (n, k, oh, ow), (1, k, 1, 1)
    else:
        x, wt, out, sc = (n, h, w, c), (k, r, s, c // g), (n, oh, ow, k), (1, 1, 1, k)
    attr = ', layout = "NHWC"' if layout == "NHWC" else ""
    text = f"""func.func @main(%x: {ty(x)}, %w: {ty(wt)}, %b: {ty((k,))}, %res: {ty(out)}, %sc: {ty(sc)}) -> {ty(out)} {{
  %y = nn.conv %x, %w, %b {{strides = {list(st)}, pads = {list(pads)}, dilations = {list(dil)}, group = {g}{attr}}} : ({ty(x)}, {ty(wt)}, {ty((k,))}) -> {ty(out)}
  %z = nn.mul %y, %sc : ({ty(out)}, {ty(sc)}) -> {ty(out)}
  %u = nn.add %z, %res : {ty(out)}
  %v = nn.relu %u : {ty(out)}
  func.return %v : {ty(out)}
}}"""
    module, ref = ir.parse_ir(text), ir.parse_ir(text)
    PassManager("fuse-kernels,dce").run(module)
    fused = next(op for op in module.main.block.ops if op.name == "kernel.fused")
    kernel = kernel_for(fused)
    assert isinstance(kernel, ConvKernel)
    inputs = [rng.standard_normal(a.type.shape).astype(np.float32) for a in module.main.args]
    want = ir.run_reference(ref, inputs)[0]
    got = torch.empty(out)
    env = dict(zip(module.main.args, (torch.from_numpy(v) for v in inputs)))
    kernel([env[v] for v in fused.operands], [got])
    err = np.linalg.norm(got.numpy() - want) / np.linalg.norm(want)
    assert err < 1e-5, err
    if layout == "NHWC":  # the reference semantics of the NHWC op against torch's NCHW conv
        tx = torch.from_numpy(inputs[0]).permute(0, 3, 1, 2)
        tw = torch.from_numpy(inputs[1]).permute(0, 3, 1, 2)
        padded = torch.nn.functional.pad(tx, (pads[1], pads[3], pads[0], pads[2]))
        y = torch.nn.functional.conv2d(padded, tw, torch.from_numpy(inputs[2]), st, 0, dil, g).permute(
            0, 2, 3, 1
        )
        y = torch.relu(y * torch.from_numpy(inputs[4]) + torch.from_numpy(inputs[3]))
        np.testing.assert_allclose(want, y.numpy(), rtol=1e-4, atol=1e-4)
