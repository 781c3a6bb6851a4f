"""The GEMM template's left operand computed by a depthwise convolution (``codegen/gemm_depthwise.py``):
``matmul(clip(dwconv(x) + b), W) + bias (+ residual)`` as one kernel under Triton's interpreter, with
strides, dilation, asymmetric padding, channel counts that are not multiples of the K tile and
outputs that are not multiples of the tiles, against the reference; the fusion rule's refusals; and a
MobileNetV2-style block end to end against torch."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

import tritium as tr
import tritium.ir as ir
from tritium.codegen import kernel_for
from tritium.codegen.gemm import MatmulKernel
from tritium.passes import PassManager


@pytest.fixture(autouse=True)
def everywhere(monkeypatch) -> None:
    """The template wherever it can run (an opt-in: ``fusion_policy.depthwise_operand_pays``)."""
    monkeypatch.setenv("TRITIUM_DEPTHWISE_GEMM", "1")


def ty(shape: tuple[int, ...], dt: str) -> str:
    return "tensor<" + "".join(f"{d}x" for d in shape) + dt + ">"


def block_case(
    n: int, h: int, w: int, c: int, cout: int, dt: str, k: int = 3, stride: int = 1, dil: int = 1,
    pads: tuple[int, int, int, int] = (1, 1, 1, 1), residual: bool = False, bias: bool = True,
) -> str:  # fmt: skip
    oh = (h + pads[0] + pads[2] - dil * (k - 1) - 1) // stride + 1
    ow = (w + pads[1] + pads[3] - dil * (k - 1) - 1) // stride + 1
    x, d, o = ty((n, h, w, c), dt), ty((n, oh, ow, c), dt), ty((n, oh, ow, cout), dt)
    wt, bt, pt, s = ty((c, k, k, 1), dt), ty((c,), dt), ty((c, cout), dt), ty((), dt)
    args = f"%x: {x}, %w: {wt}, " + (f"%b: {bt}, " if bias else "") + f"%p: {pt}, %pb: {ty((cout,), dt)}"
    args += f", %r: {o}" if residual else ""
    conv_in = "%x, %w, %b" if bias else "%x, %w"
    conv_ty = f"{x}, {wt}, {bt}" if bias else f"{x}, {wt}"
    lines = [
        f"  %lo = nn.constant dense<0.0> : {s}",
        f"  %hi = nn.constant dense<6.0> : {s}",
        f'  %d = nn.conv {conv_in} {{dilations = [{dil}, {dil}], group = {c}, layout = "NHWC", '
        f"pads = [{', '.join(map(str, pads))}], strides = [{stride}, {stride}]}} : ({conv_ty}) -> {d}",
        f"  %a = nn.clip %d, %lo, %hi : ({d}, {s}, {s}) -> {d}",
        f"  %y = nn.matmul %a, %p : ({d}, {pt}) -> {o}",
        f"  %z = nn.add %y, %pb : ({o}, {ty((cout,), dt)}) -> {o}",
    ]
    out = "%z"
    if residual:
        lines.append(f"  %s = nn.add %z, %r : {o}")
        out = "%s"
    body = "\n".join(lines)
    return f"func.func @main({args}) -> {o} {{\n{body}\n  func.return {out} : {o}\n}}"


CONFIG = {"BLOCK_M": 32, "BLOCK_N": 16, "BLOCK_K": 16, "GROUP_M": 4, "num_warps": 4, "num_stages": 1}


def one_kernel(text: str) -> MatmulKernel:
    module = ir.parse_ir(text)
    PassManager("fuse-kernels,dce").run(module)
    fused = [op for op in module.main.block.ops if op.name == "kernel.fused"]
    assert len(fused) == 1, f"expected the block as one kernel, got {len(fused)}"
    kernel = kernel_for(fused[0])
    assert isinstance(kernel, MatmulKernel) and kernel.dw is not None
    return kernel


CASES = {  # (n, h, w, c, cout, options)
    "3x3": (2, 7, 9, 24, 20, {}),
    "stride 2": (2, 9, 8, 40, 12, {"stride": 2}),
    "5x5 dilated, uneven pads": (1, 11, 10, 16, 33, {"k": 5, "dil": 2, "pads": (3, 1, 5, 4)}),
    "residual, no conv bias": (3, 5, 6, 32, 32, {"residual": True, "bias": False}),
}


@pytest.mark.parametrize("dt", ["f32", "f16"])
@pytest.mark.parametrize("case", list(CASES))
def test_depthwise_operand_matches_the_reference(case: str, dt: str, rng) -> None:
    n, h, w, c, cout, opts = CASES[case]
    text = block_case(n, h, w, c, cout, dt, **opts)
    kernel = one_kernel(text)
    assert kernel.library is None and "_tma(" not in kernel.source and "_persistent(" not in kernel.source
    npdt = np.float16 if dt == "f16" else np.float32
    args = ir.parse_ir(text).main.args
    inputs = [(rng.standard_normal(a.type.shape) / 2).astype(npdt) for a in args]
    want = ir.run_reference(ir.parse_ir(text), inputs)[0].astype(np.float32)
    out = torch.full(want.shape, float("nan"), dtype=torch.from_numpy(inputs[0]).dtype)
    kernel([torch.from_numpy(v) for v in inputs], [out], CONFIG)
    got = out.float().numpy()
    tol = 2e-2 if dt == "f16" else 1e-4
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_the_interpreters_default_tiles_and_every_config(rng) -> None:
    """Every candidate config of a wider block (K = 96 channels, 40 outputs) computes the same."""
    text = block_case(2, 6, 6, 96, 40, "f16", stride=2)
    kernel = one_kernel(text)
    args = ir.parse_ir(text).main.args
    inputs = [(rng.standard_normal(a.type.shape) / 2).astype(np.float16) for a in args]
    want = ir.run_reference(ir.parse_ir(text), inputs)[0].astype(np.float32)
    ins = [torch.from_numpy(v) for v in inputs]
    for cfg in [None, *kernel.config_space(3)]:
        out = torch.full(want.shape, float("nan"), dtype=torch.float16)
        kernel(ins, [out], cfg)
        np.testing.assert_allclose(out.float().numpy(), want, rtol=2e-2, atol=2e-2, err_msg=str(cfg))


def joined(text: str) -> bool:
    """Whether the depthwise convolution ran inside a GEMM's kernel (the fusion rule took it)."""
    module = ir.parse_ir(text)
    PassManager("fuse-kernels,dce").run(module)
    kernels = [kernel_for(op) for op in module.main.block.ops if op.name == "kernel.fused"]
    assert all(k is not None for k in kernels)  # (nothing sent to the host)
    return any(isinstance(k, MatmulKernel) and k.dw is not None for k in kernels)


def test_the_fusion_rule_refuses_what_the_template_cannot_compute() -> None:
    base = block_case(1, 6, 6, 16, 8, "f32")
    assert joined(base)
    # a convolution with several filters per group is not depthwise: two kernels
    grouped = base.replace("group = 16", "group = 8").replace("tensor<16x3x3x1xf32>", "tensor<16x3x3x2xf32>")
    assert not joined(grouped)
    # the depthwise output read by another op too: stored, so not recomputed in the GEMM
    twice = base.replace(
        "%y = nn.matmul %a, %p", "%e = nn.neg %a : tensor<1x6x6x16xf32>\n  %y = nn.matmul %a, %p"
    )
    assert not joined(twice)
    # an activation reading another tensor (a per-channel scale) is not the template's chain
    scaled = base.replace(
        "%a = nn.clip %d, %lo, %hi",
        "%a0 = nn.mul %d, %sc : (tensor<1x6x6x16xf32>, tensor<16xf32>) -> tensor<1x6x6x16xf32>\n  %a = nn.clip %a0, %lo, %hi",
    )
    assert not joined(scaled.replace("%p: ", "%sc: tensor<16xf32>, %p: "))


def test_a_residual_of_the_convolutions_own_input(rng) -> None:
    """``x + project(relu6(depthwise(x)))``: the epilogue loads the convolution's input as its
    residual (the kernel reads it both ways; nothing goes to the host)."""
    text = block_case(2, 5, 7, 24, 24, "f16")
    text = text.replace("  func.return %z", "  %s = nn.add %z, %x : tensor<2x5x7x24xf16>\n  func.return %s")
    kernel = one_kernel(text)
    args = ir.parse_ir(text).main.args
    inputs = [(rng.standard_normal(a.type.shape) / 2).astype(np.float16) for a in args]
    want = ir.run_reference(ir.parse_ir(text), inputs)[0].astype(np.float32)
    out = torch.full(want.shape, float("nan"), dtype=torch.float16)
    kernel([torch.from_numpy(v) for v in inputs], [out], CONFIG)
    np.testing.assert_allclose(out.float().numpy(), want, rtol=2e-2, atol=2e-2)


def test_off_unless_asked_for(monkeypatch) -> None:
    """It measured no faster on MobileNetV2 (``depthwise_operand_pays``): an opt-in."""
    for setting in ("0", None):
        if setting is None:
            monkeypatch.delenv("TRITIUM_DEPTHWISE_GEMM")
        else:
            monkeypatch.setenv("TRITIUM_DEPTHWISE_GEMM", setting)
        assert not joined(block_case(1, 6, 6, 16, 8, "f32"))
        assert not joined(block_case(1, 256, 256, 64, 16, "f16"))


@pytest.mark.parametrize("fp16", [False, True])
def test_mobilenet_blocks_end_to_end_match_torch(fp16: bool, rng) -> None:
    """Inverted residual blocks (expand, depthwise 3x3 + ReLU6, project; with the residual, then
    strided), exported to ONNX and built: each depthwise layer runs inside its projection's kernel,
    and the blocks compute what torch does."""
    from torch import nn

    def cbr(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
        conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False)
        return nn.Sequential(conv, nn.BatchNorm2d(cout), nn.ReLU6())

    class Block(nn.Module):
        def __init__(self, c: int, stride: int) -> None:
            super().__init__()
            self.body = nn.Sequential(
                cbr(c, 4 * c, 1), cbr(4 * c, 4 * c, 3, stride, 4 * c), nn.Conv2d(4 * c, c, 1)
            )
            self.residual = stride == 1

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.body(x) if self.residual else self.body(x)

    torch.manual_seed(0)
    model = nn.Sequential(Block(8, 1), Block(8, 2)).eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    f = io.BytesIO()
    torch.onnx.export(
        model, (torch.zeros(2, 8, 12, 12),), f, input_names=["x"], output_names=["y"], dynamo=False
    )
    engine = tr.compile(f.getvalue(), fp16=fp16)
    steps = engine.program({"x": (2, 8, 12, 12)}).steps
    gemms = [s.kernel for s in steps if isinstance(s.kernel, MatmulKernel)]
    assert [k.dw is not None for k in gemms] == [False, True, False, True]  # expand, project (x2)
    assert not any(type(s.kernel).__name__ == "ConvKernel" for s in steps)  # no depthwise of its own
    x = rng.standard_normal((2, 8, 12, 12)).astype(np.float32)
    want = model(torch.from_numpy(x)).detach().numpy()
    got = np.asarray(engine({"x": x})["y"], dtype=np.float32)
    np.testing.assert_allclose(got, want, rtol=0, atol=(4e-3 if fp16 else 1e-5) * np.abs(want).max())
