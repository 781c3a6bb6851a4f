"""The implicit-GEMM convolution template against the reference: strides, padding, dilation, groups
(depthwise included), 1x1, bias and epilogues with broadcast extra inputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import tritium.ir as ir
from tritium.codegen import ConvKernel, kernel_for
from tritium.codegen.conv_forms import conv_descriptors
from tritium.ir.dialects.nn.conv import conv_out_dim
from tritium.passes import PassManager


def ty(shape: tuple[int, ...], dt: str = "f32") -> str:
    return "tensor<" + "".join(f"{d}x" for d in shape) + dt + ">"


def fused_kernel(text: str) -> tuple[Any, Any, Any, Any]:
    """``text`` parsed twice (one copy stays the reference), the first fused into kernel IR: the
    module, the reference, its one fused kernel op and that op's generated kernel."""
    module, ref = ir.parse_ir(text), ir.parse_ir(text)
    PassManager("fuse-kernels,dce").run(module)
    fused = next(op for op in module.main.block.ops if op.name == "kernel.fused")
    return module, ref, fused, kernel_for(fused)


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


def conv_text(case: tuple, layout: str, dt: str = "f32") -> str:
    """conv (bias) * scale + residual, relu: a conv kernel with broadcast and full extra inputs."""
    n, c, h, w, k, r, s, st, pads, dil, g = case
    oh = conv_out_dim(h, r, st[0], pads[0], pads[2], dil[0])
    ow = conv_out_dim(w, s, st[1], pads[1], pads[3], dil[1])
    if layout == "NCHW":
        x, wt, out, sc = (n, c, h, w), (k, c // g, r, s), (n, k, oh, ow), (1, k, 1, 1)
    else:
        x, wt, out, sc = (n, h, w, c), (k, r, s, c // g), (n, oh, ow, k), (1, 1, 1, k)
    attr = ', layout = "NHWC"' if layout == "NHWC" else ""
    x, wt, b, out, sc = (ty(t, dt) for t in (x, wt, (k,), out, sc))
    return f"""func.func @main(%x: {x}, %w: {wt}, %b: {b}, %res: {out}, %sc: {sc}) -> {out} {{
  %y = nn.conv %x, %w, %b {{strides = {list(st)}, pads = {list(pads)}, dilations = {list(dil)}, group = {g}{attr}}} : ({x}, {wt}, {b}) -> {out}
  %z = nn.mul %y, %sc : ({out}, {sc}) -> {out}
  %u = nn.add %z, %res : {out}
  %v = nn.relu %u : {out}
  func.return %v : {out}
}}"""


SYMMETRIC = [c for c in CASES if c[8][:2] == c[8][2:]]


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("case", SYMMETRIC, ids=[f"case{i}" for i in range(len(SYMMETRIC))])
def test_library_tactic(case, layout: str, rng: np.random.Generator) -> None:
    """The cuDNN tactic (torch's conv2d, here on the CPU) with the generated epilogue twin."""
    module, ref = ir.parse_ir(conv_text(case, layout, "f16")), ir.parse_ir(conv_text(case, layout, "f16"))
    PassManager("fuse-kernels,dce").run(module)
    fused = next(op for op in module.main.block.ops if op.name == "kernel.fused")
    kernel = kernel_for(fused)
    assert isinstance(kernel, ConvKernel) and kernel.library == "cudnn"
    assert f"def {kernel.name}_epilogue(" in kernel.source
    inputs = [(rng.standard_normal(a.type.shape) / 2).astype(np.float16) for a in module.main.args]
    want = ir.run_reference(ref, inputs)[0].astype(np.float32)
    env = dict(zip(module.main.args, (torch.from_numpy(v) for v in inputs)))
    for config in (None, kernel.library_config()):
        got = torch.empty(want.shape, dtype=torch.float16)
        kernel([env[v] for v in fused.operands], [got], config)
        err = np.linalg.norm(got.numpy().astype(np.float32) - want) / np.linalg.norm(want)
        assert err < 3e-3, (config, err)


FUSED_FORMS = {  # the conv kernel's epilogue -> cuDNN's form of it (conv_library)
    "%y = nn.relu %c : {o}": "relu",
    "%s = nn.add %c, %res : {o}\n  %y = nn.relu %s : {o}": "add_relu",
    "%s = nn.add %res, %c : {o}\n  %y = nn.relu %s : {o}": "add_relu",
    "%y = nn.add %c, %c : {o}": "epilogue",
    "%s = nn.add %c, %sc : ({o}, {sc}) -> {o}\n  %y = nn.relu %s : {o}": "epilogue",  # a broadcast, not a residual
    "%y = nn.sigmoid %c : {o}": "epilogue",
    "": "conv",
}


def library_form_case(epilogue: str, layout: str, bias: bool) -> str:
    """A strided, padded 3x3 f16 convolution (with a bias or not) and ``epilogue`` (a FUSED_FORMS key)."""
    n, c, h, w, k, st = 2, 8, 7, 6, 12, (2, 1)
    oh, ow = conv_out_dim(h, 3, st[0], 1, 1, 1), conv_out_dim(w, 3, st[1], 1, 1, 1)
    shapes = {"NCHW": ((n, c, h, w), (k, c, 3, 3), (n, k, oh, ow), (1, k, 1, 1))}
    shapes["NHWC"] = ((n, h, w, c), (k, 3, 3, c), (n, oh, ow, k), (1, 1, 1, k))
    x, wt, o, sc = (ty(t, "f16") for t in shapes[layout])
    b = ty((k,), "f16")
    attr = ', layout = "NHWC"' if layout == "NHWC" else ""
    conv = f"nn.conv %x, %w, %b {{strides = {list(st)}, pads = [1, 1, 1, 1], dilations = [1, 1], group = 1{attr}}} : ({x}, {wt}, {b}) -> {o}"
    if not bias:
        conv = conv.replace("%w, %b", "%w").replace(f", {b})", ")")
    body = epilogue.format(o=o, sc=sc) if epilogue else f"%y = nn.relu %c : {o}"
    return f"""func.func @main(%x: {x}, %w: {wt}, %b: {b}, %res: {o}, %sc: {sc}) -> {o} {{
  %c = {conv}
  {body}
  func.return {"%y" if epilogue else "%c"} : {o}
}}"""


def run_library_form(text: str, form: str, rng: np.random.Generator, device: str = "cpu") -> None:
    """``text``'s kernel is ``form`` and its library tactic gives the reference's result: returned
    whole (the given output untouched) or, for "epilogue", written by the twin."""
    module, ref = ir.parse_ir(text), ir.parse_ir(text)
    PassManager("fuse-kernels,dce").run(module)
    fused = next(op for op in module.main.block.ops if op.name == "kernel.fused")
    kernel = kernel_for(fused)
    assert isinstance(kernel, ConvKernel) and kernel.library_form == form
    assert (f"def {kernel.name}_epilogue(" in kernel.source) == (form == "epilogue")
    inputs = [(rng.standard_normal(a.type.shape) / 2).astype(np.float16) for a in module.main.args]
    want = ir.run_reference(ref, inputs)[0].astype(np.float32)
    env = dict(zip(module.main.args, (torch.from_numpy(v).to(device) for v in inputs)))
    out = torch.full(want.shape, float("nan"), dtype=torch.float16, device=device)
    produced = kernel([env[v] for v in fused.operands], [out], kernel.library_config())
    if form == "epilogue":
        assert produced is None
        got = out
    else:
        assert len(produced) == 1 and bool(out.isnan().all())
        got = produced[0]
        assert got.is_contiguous() and tuple(got.shape) == want.shape and got.dtype == torch.float16
    np.testing.assert_allclose(
        got.float().cpu().numpy(), want, rtol=0, atol=4e-3 * max(1.0, np.abs(want).max())
    )


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("epilogue", list(FUSED_FORMS), ids=list(FUSED_FORMS.values()))
def test_library_forms(epilogue: str, layout: str, bias: bool, rng: np.random.Generator) -> None:
    """The cuDNN tactic's forms: the convolution alone, with a ReLU, and with a residual sum and a
    ReLU are computed whole by the library (cuDNN's fused kernels on the GPU; on the CPU torch's
    float32 sums) and returned for the runtime to take; any other epilogue runs in the twin."""
    run_library_form(library_form_case(epilogue, layout, bias), FUSED_FORMS[epilogue], rng)


def test_no_library_tactic_for_f32_or_asymmetric_padding() -> None:
    for case, dt in ((CASES[0], "f32"), (CASES[1], "f16")):
        module = ir.parse_ir(conv_text(case, "NHWC", dt))
        PassManager("fuse-kernels,dce").run(module)
        kernel = kernel_for(next(op for op in module.main.block.ops if op.name == "kernel.fused"))
        assert kernel.library_config() is None and "_epilogue(" not in kernel.source


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("case", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_conv_matches_reference(case, layout: str, rng: np.random.Generator) -> None:
    _, _, _, _, _, _, _, st, pads, dil, g = case
    text = conv_text(case, layout)
    module, ref, fused, kernel = fused_kernel(text)
    assert isinstance(kernel, ConvKernel)
    inputs = [rng.standard_normal(a.type.shape).astype(np.float32) for a in module.main.args]
    want = ir.run_reference(ref, inputs)[0]
    got = torch.empty(want.shape)
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


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("case", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_static_window_sizes(case, layout: str, rng: np.random.Generator, monkeypatch) -> None:
    """Under ``TRITIUM_CONSTEXPR_SIZES=conv`` the window's sizes are the kernel's constants (every
    case above, both layouts), and the convolution is the same."""
    monkeypatch.setenv("TRITIUM_CONSTEXPR_SIZES", "conv")
    module, ref, fused, kernel = fused_kernel(conv_text(case, layout))
    assert all(f" {p}: tl.constexpr," in kernel.source for p in ("KRED", "CG", "R", "S"))
    inputs = [rng.standard_normal(a.type.shape).astype(np.float32) for a in module.main.args]
    want = ir.run_reference(ref, inputs)[0]
    got = torch.empty(want.shape)
    env = dict(zip(module.main.args, (torch.from_numpy(v) for v in inputs)))
    kernel([env[v] for v in fused.operands], [got])
    assert np.linalg.norm(got.numpy() - want) / np.linalg.norm(want) < 1e-5
    monkeypatch.delenv("TRITIUM_CONSTEXPR_SIZES")
    assert " R: tl.constexpr," not in fused_kernel(conv_text(case, layout))[3].source


TMA_CASES = [
    # n, c, h, w, k, r, s, stride, pad, dilation, group: stride 1, output as large as the input
    (2, 32, 5, 7, 24, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),  # ResNet's 3x3, 2 images in a tile
    (1, 16, 6, 5, 16, 3, 3, (1, 1), (2, 2, 2, 2), (2, 2), 1),  # dilated
    (2, 16, 4, 6, 8, 3, 1, (1, 1), (0, 0, 2, 0), (1, 1), 1),  # asymmetric pads, a 3x1 window
    (1, 48, 5, 5, 8, 5, 5, (1, 1), (2, 2, 2, 2), (1, 1), 1),  # channel blocks: 48 = 3 x 16
]


@pytest.mark.parametrize("case", TMA_CASES, ids=[f"tma{i}" for i in range(len(TMA_CASES))])
def test_tma_variant(case, rng: np.random.Generator) -> None:
    """The TMA form: each tap's tile is a box of consecutive pixel rows of the flattened input, the
    out-of-window rows of its partial product zeroed (the first and last rows of each image and
    each image row; boxes that start before the first pixel or end past the last TMA fills with
    zeros). 16-row tiles over 35-70 pixels: tiles straddle image rows and images. With
    16 channels per block and a 24-channel output (two column tiles, the second half masked)."""
    text = conv_text(case, "NHWC", "f16")
    module, ref, fused, kernel = fused_kernel(text)
    assert (
        isinstance(kernel, ConvKernel) and kernel.tma == "same" and f"def {kernel.name}_tma(" in kernel.source
    )
    inputs = [(rng.standard_normal(a.type.shape) / 2).astype(np.float16) for a in module.main.args]
    want = ir.run_reference(ref, inputs)[0].astype(np.float32)
    env = dict(zip(module.main.args, (torch.from_numpy(v) for v in inputs)))
    ins = [env[v] for v in fused.operands]
    cfg = {"TMA": 1, "BLOCK_M": 16, "BLOCK_N": 16, "BLOCK_K": 16, "num_warps": 4, "num_stages": 1}
    assert conv_descriptors(ins[0], ins[1], cfg, "same") is not None
    assert conv_descriptors(ins[0], ins[1], {**cfg, "BLOCK_K": 32}, "same") is None or case[1] % 32 == 0
    got = torch.full(want.shape, float("nan"), dtype=torch.float16)
    kernel(ins, [got], cfg)
    err = np.linalg.norm(got.numpy().astype(np.float32) - want) / np.linalg.norm(want)
    assert err < 3e-3, err


VALID_CASES = [
    # n, c, h, w, k, r, s, stride, pad, dilation, group: stride 1, no padding (the form of a
    # space-to-depth stem: 4x4 taps of 16 channels), reduction blocks of 16 (one tap) and 32 (two)
    (2, 16, 7, 6, 24, 4, 4, (1, 1), (0, 0, 0, 0), (1, 1), 1),
    (1, 8, 5, 9, 16, 2, 4, (1, 1), (0, 0, 0, 0), (1, 1), 1),
    (1, 48, 5, 6, 16, 2, 2, (1, 1), (0, 0, 0, 0), (1, 1), 1),  # 48 channels: blocks of 32 span taps
]


@pytest.mark.parametrize("bk", [16, 32])
@pytest.mark.parametrize("case", VALID_CASES, ids=[f"valid{i}" for i in range(len(VALID_CASES))])
def test_valid_tma_form(case, bk: int, rng: np.random.Generator) -> None:
    """The "valid" TMA form: a virtual output row at every input pixel (16-row tiles over 42-84
    pixels), each window row one box of BLOCK_K elements: of one tap's channels, or spanning taps
    through rows that overlap (row m holds pixels m .. m + S - 1); rows past the output's width
    or height, whose windows run into the next row or image, are not stored."""
    text = conv_text(case, "NHWC", "f16")
    module, ref, fused, kernel = fused_kernel(text)
    assert isinstance(kernel, ConvKernel) and kernel.tma == "valid" and "XW" in kernel.source
    inputs = [(rng.standard_normal(a.type.shape) / 2).astype(np.float16) for a in module.main.args]
    want = ir.run_reference(ref, inputs)[0].astype(np.float32)
    env = dict(zip(module.main.args, (torch.from_numpy(v) for v in inputs)))
    ins = [env[v] for v in fused.operands]
    cfg = {"TMA": 1, "BLOCK_M": 16, "BLOCK_N": 16, "BLOCK_K": bk, "num_warps": 4, "num_stages": 1}
    made = conv_descriptors(ins[0], ins[1], cfg, "valid")
    c, row = case[1], case[6] * case[1]
    wide = bk > c or c % bk != 0  # blocks that span taps read overlapping rows of S * C
    assert made is not None and made[1] == (row if wide else c)
    got = torch.full(want.shape, float("nan"), dtype=torch.float16)
    kernel(ins, [got], cfg)
    err = np.linalg.norm(got.numpy().astype(np.float32) - want) / np.linalg.norm(want)
    assert err < 3e-3, err


def test_tma_configs_lead_on_hopper(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where TMA is available, ResNet-50's 3x3 256-channel convolution (14 x 14, batch 32) tries TMA
    tiles first: whole channel blocks of 32 bytes or more, 8 warps for 128 x 128 (two float32
    accumulators), nothing larger; the other tiles load through pointers."""
    import tritium.codegen.triton_env as env

    case = (32, 256, 14, 14, 256, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1)
    module = ir.parse_ir(conv_text(case, "NHWC", "f16"))
    PassManager("fuse-kernels,dce").run(module)
    kernel = kernel_for(next(op for op in module.main.block.ops if op.name == "kernel.fused"))
    plain = kernel.config_space(3)
    assert not any(c.get("TMA") for c in plain)
    monkeypatch.setattr(env, "tma_available", lambda: True)
    space = kernel.config_space(3)
    tma = [c for c in space if c.get("TMA")]
    assert tma and space[: len(tma)] == tma  # first
    for c in tma:
        area = c["BLOCK_M"] * c["BLOCK_N"]
        assert area <= 128 * 128 and c["BLOCK_K"] >= 16 and 256 % c["BLOCK_K"] == 0
        assert c["num_warps"] == (8 if area == 128 * 128 else 4)
    assert len({tuple(sorted(c.items())) for c in tma}) == len(tma)
    assert [c for c in space if not c.get("TMA")] == [
        c for c in plain if c["BLOCK_M"] * c["BLOCK_N"] > 128 * 128 or c["BLOCK_K"] < 16
    ]


@pytest.mark.parametrize(
    "case,bk",
    [
        (TMA_CASES[0], 32),
        ((1, 64, 5, 5, 16, 5, 5, (1, 1), (2, 2, 2, 2), (1, 1), 1), 32),  # two channel blocks per tap
        (VALID_CASES[0], 64),
        ((1, 32, 6, 7, 16, 2, 2, (1, 1), (0, 0, 0, 0), (1, 1), 1), 32),
    ],
    ids=["same", "same-5x5", "valid-wide", "valid-one-tap"],
)
def test_int8_tma_forms_are_exact(case, bk: int, rng: np.random.Generator) -> None:
    """int8 x int8 convolutions without zero points take the TMA forms too (int32 partial products
    and accumulators): exactly the reference's integers, with BLOCK_K of 32 bytes and more."""
    n, c, h, w, k, r, s_, _, pads, dil, _ = case
    oh, ow = h + pads[0] + pads[2] - dil[0] * (r - 1), w + pads[1] + pads[3] - dil[1] * (s_ - 1)
    xt, wt, o = ty((n, h, w, c), "i8"), ty((k, r, s_, c), "i8"), ty((n, oh, ow, k), "i32")
    attrs = f'strides = [1, 1], pads = {list(pads)}, dilations = {list(dil)}, layout = "NHWC"'
    text = f"""func.func @main(%x: {xt}, %w: {wt}) -> {o} {{
  %y = nn.conv_integer %x, %w {{{attrs}}} : ({xt}, {wt}) -> {o}
  func.return %y : {o}
}}"""
    module, ref, fused, kernel = fused_kernel(text)
    assert kernel.tma == ("valid" if not any(pads) else "same") and "out_dtype=tl.int32" in kernel.source
    inputs = [rng.integers(-128, 128, a.type.shape).astype(np.int8) for a in module.main.args]
    want = ir.run_reference(ref, inputs)[0]
    env = dict(zip(module.main.args, (torch.from_numpy(v) for v in inputs)))
    cfg = {"TMA": 1, "BLOCK_M": 16, "BLOCK_N": 16, "BLOCK_K": bk, "num_warps": 4, "num_stages": 1}
    assert conv_descriptors(env[module.main.args[0]], env[module.main.args[1]], cfg, kernel.tma) is not None
    got = torch.full(want.shape, -7, dtype=torch.int32)
    kernel([env[v] for v in fused.operands], [got], cfg)
    np.testing.assert_array_equal(got.numpy(), want)


def test_valid_form_epilogue_reads_per_pixel_inputs_in_bounds(rng: np.random.Generator) -> None:
    """A per-pixel epilogue input ([N, OH, OW, 1], loaded once per row, masked by ``em < M`` alone)
    with the valid form. The virtual rows past the output's edge (the last image's bottom rows
    among them) would address rows past that input's end; they point at row 0 instead. The
    interpreter checks no addresses (and those rows are never stored), so the source is checked
    for the clamp, and the values against the reference."""
    n, h, w, c, k, r = 2, 6, 5, 16, 16, 3
    oh, ow = h - r + 1, w - r + 1
    x, wt, o, p = (ty(t, "f16") for t in ((n, h, w, c), (k, r, r, c), (n, oh, ow, k), (n, oh, ow, 1)))
    text = f"""func.func @main(%x: {x}, %w: {wt}, %p: {p}) -> {o} {{
  %y = nn.conv %x, %w {{strides = [1, 1], pads = [0, 0, 0, 0], dilations = [1, 1], layout = "NHWC"}} : ({x}, {wt}) -> {o}
  %z = nn.mul %y, %p : ({o}, {p}) -> {o}
  func.return %z : {o}
}}"""
    module, ref, fused, kernel = fused_kernel(text)
    assert kernel.tma == "valid" and "em = tl.where(vok, " in kernel.source
    inputs = [(rng.standard_normal(a.type.shape) / 2).astype(np.float16) for a in module.main.args]
    want = ir.run_reference(ref, inputs)[0].astype(np.float32)
    env = dict(zip(module.main.args, (torch.from_numpy(v) for v in inputs)))
    got = torch.full(want.shape, float("nan"), dtype=torch.float16)
    cfg = {"TMA": 1, "BLOCK_M": 16, "BLOCK_N": 16, "BLOCK_K": 16, "num_warps": 4, "num_stages": 1}
    kernel([env[v] for v in fused.operands], [got], cfg)
    err = np.linalg.norm(got.numpy().astype(np.float32) - want) / np.linalg.norm(want)
    assert err < 3e-3, err


def test_valid_form_leads_with_whole_width_tiles(monkeypatch: pytest.MonkeyPatch) -> None:
    """ResNet-50's space-to-depth stem (4x4 taps of 16 channels, 64 outputs) and MobileNetV2's (2x2
    taps, 32 outputs): the first candidates are 128-row TMA tiles as wide as the output, reading
    whole window rows (64 and 32 elements) per step."""
    import tritium.codegen.triton_env as env

    monkeypatch.setattr(env, "tma_available", lambda: True)
    for r, m, width in ((4, 64, 64), (2, 32, 32)):
        case = (32, 16, 115, 115, m, r, r, (1, 1), (0, 0, 0, 0), (1, 1), 1)
        module = ir.parse_ir(conv_text(case, "NHWC", "f16"))
        PassManager("fuse-kernels,dce").run(module)
        kernel = kernel_for(next(op for op in module.main.block.ops if op.name == "kernel.fused"))
        first = kernel.config_space(1)[0]
        assert (first["TMA"], first["BLOCK_M"], first["BLOCK_N"], first["BLOCK_K"]) == (1, 128, m, width)


def test_tma_form_only_for_unit_stride_same_size_or_unpadded_convolutions() -> None:
    """Strided, grouped, NCHW or float32 convolutions, and padded ones whose output is smaller than
    the input, have no TMA form (their pixel rows are not one box per tap, or TMA does not serve
    them)."""
    for case, layout, dt in (
        (CASES[6], "NHWC", "f16"),  # stride 2
        (CASES[3], "NHWC", "f16"),  # depthwise
        (TMA_CASES[0], "NCHW", "f16"),
        (TMA_CASES[0], "NHWC", "f32"),
        ((1, 16, 7, 6, 24, 3, 3, (1, 1), (1, 0, 0, 0), (1, 1), 1), "NHWC", "f16"),  # padded, smaller
    ):
        module = ir.parse_ir(conv_text(case, layout, dt))
        PassManager("fuse-kernels,dce").run(module)
        kernel = kernel_for(next(op for op in module.main.block.ops if op.name == "kernel.fused"))
        assert not kernel.tma and "_tma(" not in kernel.source, (case, layout, dt)


DECONV_CASES = [
    # n, c, h, w, m, r, s, stride, pads, dilation, output_padding, group
    (2, 4, 5, 6, 3, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), (1, 1), 1),
    (1, 6, 4, 4, 4, 4, 4, (2, 2), (1, 1, 1, 1), (1, 1), (0, 0), 2),  # a DCGAN-style upsampling, groups
    (1, 3, 5, 4, 5, 3, 2, (3, 1), (0, 1, 2, 0), (2, 1), (2, 0), 1),  # odd strides, asymmetric pads
    (2, 8, 3, 3, 8, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), (0, 0), 1),  # 1x1
]


def test_deconvolution_layer_runs_as_a_generated_kernel(rng: np.random.Generator) -> None:
    """Through the network API: no layer left on the host reference, the result as torch's."""
    import tritium as tr

    net = tr.Builder(tr.Logger()).create_network()
    x = net.add_input("x", tr.float32, (2, 4, 5, 5))
    w, b = rng.standard_normal((4, 3, 4, 4)).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    layer = net.add_deconvolution_nd(x, 3, (4, 4), w, b)
    layer.stride_nd, layer.padding_nd = (2, 2), (1, 1)
    layer.get_output(0).name = "y"
    net.mark_output(layer.get_output(0))
    builder = tr.Builder(tr.Logger())
    engine = builder.build_engine_with_config(net, builder.create_builder_config())
    xs = rng.standard_normal((2, 4, 5, 5)).astype(np.float32)
    assert engine.host_steps({"x": xs.shape}) == []
    t = torch.nn.functional.conv_transpose2d(
        torch.from_numpy(xs), torch.from_numpy(w), torch.from_numpy(b), 2, 1
    )
    np.testing.assert_allclose(engine({"x": xs})["y"], t.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", DECONV_CASES, ids=[f"deconv{i}" for i in range(len(DECONV_CASES))])
def test_deconvolution_matches_reference_and_torch(case, rng: np.random.Generator) -> None:
    n, c, h, w, m, r, s, st, pads, dil, opad, g = case
    oh = (h - 1) * st[0] - pads[0] - pads[2] + dil[0] * (r - 1) + opad[0] + 1
    ow = (w - 1) * st[1] - pads[1] - pads[3] + dil[1] * (s - 1) + opad[1] + 1
    x, wt, b, out = ty((n, c, h, w)), ty((c, m // g, r, s)), ty((m,)), ty((n, m, oh, ow))
    text = f"""func.func @main(%x: {x}, %w: {wt}, %b: {b}) -> {out} {{
  %y = nn.conv_transpose %x, %w, %b {{strides = {list(st)}, pads = {list(pads)}, dilations = {list(dil)}, output_padding = {list(opad)}, group = {g}}} : ({x}, {wt}, {b}) -> {out}
  %v = nn.relu %y : {out}
  func.return %v : {out}
}}"""
    module, ref, fused, kernel = fused_kernel(text)
    assert isinstance(kernel, ConvKernel) and kernel.transposed
    inputs = [rng.standard_normal(a.type.shape).astype(np.float32) for a in module.main.args]
    want = ir.run_reference(ref, inputs)[0]
    got = torch.empty(want.shape)
    env = dict(zip(module.main.args, (torch.from_numpy(v) for v in inputs)))
    kernel([env[v] for v in fused.operands], [got])
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)
    if pads[:2] == pads[2:]:  # torch's conv_transpose2d takes symmetric padding only
        t = torch.nn.functional.conv_transpose2d(
            *(torch.from_numpy(v) for v in inputs),
            stride=st,
            padding=pads[:2],
            output_padding=opad,
            groups=g,
            dilation=dil,
        )
        np.testing.assert_allclose(want, torch.relu(t).numpy(), rtol=1e-4, atol=1e-4)
