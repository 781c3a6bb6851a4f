"""Two GEMMs in one kernel (``codegen/gemm_chain.py``): a product of another's epilogue, fused by
``fuse-kernels`` where ``fusion_policy.chained_product_pays`` says so, against the reference
semantics under Triton's interpreter (shapes off the tile sizes, batch dims folded, epilogue
inputs broadcast along either axis), and two ResNet bottlenecks in a row against torch."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

import tritium as tr
import tritium.ir as ir
from tests.codegen.test_gemm_pieces import Bottleneck
from tritium.codegen import kernel_for
from tritium.codegen.gemm import MatmulKernel
from tritium.codegen.gemm_chain import ChainKernel
from tritium.passes import PassManager
from tritium.passes.fusion_policy import chained_product_pays


def ty(shape: tuple[int, ...], dt: str = "f16") -> str:
    return "tensor<" + "".join(f"{d}x" for d in shape) + dt + ">"


def chain_case(
    rows: tuple[int, ...], k1: int, n1: int, n2: int, dt: str = "f16", keep_first: bool = True
) -> str:
    """x @ W1 + b1 + residual, ReLU (returned too where ``keep_first``), then @ W2 + b2, ReLU, times
    a per-row scale (an input broadcast along the columns)."""
    x, o1, o2, s = ty((*rows, k1), dt), ty((*rows, n1), dt), ty((*rows, n2), dt), ty((*rows, 1), dt)
    w1, w2, b1, b2 = ty((k1, n1), dt), ty((n1, n2), dt), ty((n1,), dt), ty((n2,), dt)
    results = f"%z, %y : {o2}, {o1}" if keep_first else f"%z : {o2}"
    types = f"{o2}, {o1}" if keep_first else o2
    return f"""func.func @main(%x: {x}, %w1: {w1}, %b1: {b1}, %r: {o1}, %w2: {w2}, %b2: {b2}, %s: {s}) -> ({types}) {{
  %p = nn.matmul %x, %w1 : ({x}, {w1}) -> {o1}
  %q = nn.add %p, %b1 : ({o1}, {b1}) -> {o1}
  %t = nn.add %q, %r : {o1}
  %y = nn.relu %t : {o1}
  %p2 = nn.matmul %y, %w2 : ({o1}, {w2}) -> {o2}
  %q2 = nn.add %p2, %b2 : ({o2}, {b2}) -> {o2}
  %u = nn.relu %q2 : {o2}
  %z = nn.mul %u, %s : ({o2}, {s}) -> {o2}
  func.return {results}
}}"""


def fused_kernels(text: str) -> list:
    module = ir.parse_ir(text)
    PassManager("fuse-kernels,dce").run(module)
    return [op for op in module.main.block.ops if op.name == "kernel.fused"]


def check(text: str, kernel: ChainKernel, config: dict | None, rng: np.random.Generator) -> None:
    """``kernel`` (formed from ``text``) against the reference semantics, in float16, on fresh
    inputs, its outputs poisoned first (every element must be written)."""
    module = ir.parse_ir(text)
    inputs = [(rng.standard_normal(a.type.shape) / 4).astype(np.float16) for a in module.main.args]
    want = ir.run_reference(module, inputs)
    block = kernel.fused.parent  # (the function's block: its arguments, and the return last)
    args, returned = list(block.args), list(list(block.ops)[-1].operands)
    ins = [torch.from_numpy(inputs[args.index(v)]) for v in kernel.fused.operands]  # (the kernel's order)
    want = [want[returned.index(r)] for r in kernel.fused.results]
    outs = [torch.full(w.shape, float("nan"), dtype=torch.float16) for w in want]
    kernel(ins, outs, config)
    for got, w in zip(outs, want):
        w = np.asarray(w, dtype=np.float32)
        np.testing.assert_allclose(got.float().numpy(), w, rtol=4e-3, atol=4e-3 * np.abs(w).max())


@pytest.mark.parametrize(
    "rows,k1,n1,n2,keep",
    [((37,), 64, 128, 64, True), ((2, 3, 5), 40, 136, 24, True), ((19,), 16, 256, 48, False)],
)
def test_chain_matches_the_reference(rows, k1: int, n1: int, n2: int, keep: bool, rng) -> None:
    text = chain_case(rows, k1, n1, n2, keep_first=keep)
    (fused,) = fused_kernels(text)
    kernel = kernel_for(fused)
    assert isinstance(kernel, ChainKernel)
    assert kernel.side == (
        [1, 2] if keep else [2]
    )  # the first product's result (in the loop), then the second's
    check(text, kernel, None, rng)


@pytest.mark.parametrize("k1", [64, 40])
def test_short_k1_as_a_compile_time_constant(k1: int, rng, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under ``TRITIUM_CONSTEXPR_SIZES=gemm`` the first product's depth is the kernel's constant (40:
    its last step masked), and the chain computes the same."""
    monkeypatch.setenv("TRITIUM_CONSTEXPR_SIZES", "gemm")
    text = chain_case((37,), k1, 128, 64)
    (fused,) = fused_kernels(text)
    kernel = kernel_for(fused)
    assert isinstance(kernel, ChainKernel) and " K1: tl.constexpr," in kernel.source
    check(text, kernel, None, rng)


def epilogue_case(second: str, extra_args: str = "") -> str:
    """x @ W1 + b1, ReLU, then @ W2 (37 rows, 64 -> 256 -> 64) and the ``second`` epilogue's lines,
    which end in %z and may read %x, %s (a per-row scale, also read by the first epilogue) and
    ``extra_args``."""
    x, o1, o2, s = ty((37, 64)), ty((37, 256)), ty((37, 64)), ty((37, 1))
    return f"""func.func @main(%x: {x}, %w1: {ty((64, 256))}, %b1: {ty((256,))}, %w2: {ty((256, 64))}, %s: {s}{extra_args}) -> {o2} {{
  %p = nn.matmul %x, %w1 : ({x}, {ty((64, 256))}) -> {o1}
  %q = nn.add %p, %b1 : ({o1}, {ty((256,))}) -> {o1}
  %t = nn.mul %q, %s : ({o1}, {s}) -> {o1}
  %y = nn.relu %t : {o1}
  %p2 = nn.matmul %y, %w2 : ({o1}, {ty((256, 64))}) -> {o2}
{second}
  func.return %z : {o2}
}}"""


@pytest.mark.parametrize(
    "second,extra",
    [
        ("  %z = nn.mul %p2, %s : ({o}, {s}) -> {o}", ""),  # an input both epilogues read
        ("  %z = nn.add %p2, %x : {o}", ""),  # the first product's rows (a residual around the pair)
        (
            "  %h = nn.mul %r, %c : {o}\n  %z = nn.add %p2, %h : {o}",
            ", %r: {o}, %c: {o}",
        ),  # a side input's op
    ],
)
def test_second_epilogues(second: str, extra: str, rng: np.random.Generator) -> None:
    o, s = ty((37, 64)), ty((37, 1))
    text = epilogue_case(second.format(o=o, s=s), extra.format(o=o))
    (fused,) = fused_kernels(text)
    kernel = kernel_for(fused)
    assert isinstance(kernel, ChainKernel)
    check(text, kernel, None, rng)


def test_padded_output_rows(rng: np.random.Generator) -> None:
    """Outputs whose rows are padded (an engine's unaligned outputs) are written in place."""
    text = chain_case((37,), 64, 136, 24)
    (fused,) = fused_kernels(text)
    kernel = kernel_for(fused)
    module = ir.parse_ir(text)
    inputs = [(rng.standard_normal(a.type.shape) / 4).astype(np.float16) for a in module.main.args]
    want = ir.run_reference(module, inputs)  # (z, y)
    padded = [torch.full((37, n), float("nan"), dtype=torch.float16) for n in (144, 32)]
    outs = [padded[0][:, :136], padded[1][:, :24]]  # y, then z, rows 144 and 32 apart
    kernel([torch.from_numpy(v) for v in inputs], outs, None)
    for got, w in zip(outs, want[::-1]):
        w = np.asarray(w, dtype=np.float32)
        np.testing.assert_allclose(got.float().numpy(), w, rtol=4e-3, atol=4e-3 * np.abs(w).max())
    assert torch.isnan(padded[0][:, 136:]).all() and torch.isnan(padded[1][:, 24:]).all()  # (nor the padding)


def test_every_config_matches(rng: np.random.Generator) -> None:
    text = chain_case((70,), 64, 192, 40)
    (fused,) = fused_kernels(text)
    kernel = kernel_for(fused)
    space = kernel.config_space(3)
    assert len(space) >= 4 and space[: len(kernel.config_space(1))] == kernel.config_space(1)
    for config in space:
        check(text, kernel, config, rng)


def test_bfloat16_forms_the_chain() -> None:
    """A bfloat16 pair fuses too, its slices rounded to bfloat16 for the second product. (Triton's
    interpreter multiplies bfloat16 tiles wrongly on this machine, 2e10 off on a 16 x 16 product, so
    its numbers are checked on the GPU: tests/gpu/test_gpu_gemm_chain.py.)"""
    (fused,) = fused_kernels(chain_case((33,), 32, 128, 48, dt="bf16"))
    kernel = kernel_for(fused)
    assert isinstance(kernel, ChainKernel) and ".to(tl.bfloat16)" in kernel.source


@pytest.mark.parametrize(
    "text,why",
    [
        (chain_case((37,), 64, 128, 64, dt="f32"), "float32 products stay apart"),
        (chain_case((37,), 128, 256, 64), "a first reduction over 64 (measured slower)"),
        (chain_case((37,), 32, 64, 64), "a first product under 128 wide (not measured)"),
    ],
)
def test_no_chain_where_the_rule_says_no(text: str, why: str) -> None:
    assert len(fused_kernels(text)) == 2, why


def test_the_switch_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRITIUM_GEMM_CHAIN", "0")
    kernels = [kernel_for(f) for f in fused_kernels(chain_case((37,), 64, 128, 64))]
    assert [type(k) for k in kernels] == [MatmulKernel, MatmulKernel]


def test_the_rule_is_the_measured_region() -> None:
    assert chained_product_pays(64, 256, 64)  # ResNet-50 stage 1
    assert not chained_product_pays(128, 512, 128)  # stage 2: measured slower
    assert not chained_product_pays(64, 256, 128)  # into stage 2: slower in the model
    assert not chained_product_pays(32, 16, 96)  # MobileNetV2's project -> expand: not measured


def test_two_bottlenecks_chain_at_their_boundary(rng: np.random.Generator) -> None:
    """The first block's last 1x1 convolution (32 -> 128, residual, ReLU) and the second's first
    (128 -> 32) are one kernel, which still stores the first block's output for the second's
    residual; the pair computes what torch does, in float16."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(Bottleneck(128, 32, 1, False), Bottleneck(128, 32, 1, False)).eval()
    f = io.BytesIO()
    torch.onnx.export(
        model, (torch.zeros(2, 128, 4, 4),), f, input_names=["x"], output_names=["y"], dynamo=False
    )
    built = tr.compile(f.getvalue(), fp16=True)
    loaded = tr.Runtime(tr.Logger(tr.Logger.ERROR)).deserialize_cuda_engine(built.serialize())
    x = rng.standard_normal((2, 128, 4, 4)).astype(np.float32)
    want = model(torch.from_numpy(x)).detach().numpy()
    for engine in (built, loaded):  # (a plan's kernels are formed again as it loads)
        kernels = [s.kernel for s in engine.program({"x": (2, 128, 4, 4)}).steps if s.mode == "kernel"]
        chains = [k for k in kernels if isinstance(k, ChainKernel)]
        assert len(chains) == 1 and chains[0].side == [1, 2]  # (the first block's output, the second's)
        got = np.asarray(engine({"x": x})["y"], dtype=np.float32)
        np.testing.assert_allclose(got, want, rtol=0, atol=5e-3 * np.abs(want).max())
