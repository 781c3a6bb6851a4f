"""Generated kernels and whole engines on a CUDA GPU (skipped without one): each template against
torch on the same card, in f16 and f32, and the engine's CUDA-graph path."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tritium as tr
import tritium.ir as ir
from tests.codegen import gemm_gelu_residual, one_kernel

pytestmark = pytest.mark.gpu


def rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def ty(shape, dt="f16") -> str:
    return "tensor<" + "".join(f"{d}x" for d in shape) + dt + ">"


@pytest.mark.parametrize("dt,tol", [("f16", 5e-3), ("f32", 1e-5)])
def test_gemm_epilogue(dt: str, tol: float, rng: np.random.Generator) -> None:
    m, k, n = 333, 257, 129
    text = f"""func.func @main(%a: {ty((m, k), dt)}, %b: {ty((k, n), dt)}, %c: {ty((n,), dt)}) -> {ty((m, n), dt)} attributes {{input_names = ["a", "b", "c"], output_names = ["y"]}} {{
  %y = nn.matmul %a, %b : ({ty((m, k), dt)}, {ty((k, n), dt)}) -> {ty((m, n), dt)}
  %z = nn.add %y, %c : ({ty((m, n), dt)}, {ty((n,), dt)}) -> {ty((m, n), dt)}
  %r = nn.relu %z : {ty((m, n), dt)}
  func.return %r : {ty((m, n), dt)}
}}"""
    npdt = np.float16 if dt == "f16" else np.float32
    ins = {
        "a": rng.standard_normal((m, k)).astype(npdt),
        "b": rng.standard_normal((k, n)).astype(npdt),
        "c": rng.standard_normal(n).astype(npdt),
    }
    engine = tr.compile(ir.parse_ir(text), device="cuda")
    got = engine(ins)["y"]
    want = np.maximum(ins["a"].astype(np.float64) @ ins["b"] + ins["c"], 0)
    assert rel(got, want) < tol
    assert not engine.host_steps({k: v.shape for k, v in ins.items()})


def test_conv_and_attention_engine(rng: np.random.Generator) -> None:
    text = f"""func.func @main(%x: {ty((2, 16, 20, 20), "f32")}, %w: {ty((32, 16, 3, 3), "f32")}) -> {ty((2, 32, 20, 20), "f32")} attributes {{input_names = ["x", "w"], output_names = ["y"]}} {{
  %y = nn.conv %x, %w {{strides = [1, 1], pads = [1, 1, 1, 1], dilations = [1, 1]}} : ({ty((2, 16, 20, 20), "f32")}, {ty((32, 16, 3, 3), "f32")}) -> {ty((2, 32, 20, 20), "f32")}
  %r = nn.relu %y : {ty((2, 32, 20, 20), "f32")}
  func.return %r : {ty((2, 32, 20, 20), "f32")}
}}"""
    ins = {
        "x": rng.standard_normal((2, 16, 20, 20)).astype(np.float32),
        "w": rng.standard_normal((32, 16, 3, 3)).astype(np.float32),
    }
    want = tr.compile(ir.parse_ir(text), backend="reference")(ins)["y"]
    engine = tr.compile(ir.parse_ir(text), device="cuda")
    for _ in range(3):  # the second run captures a CUDA graph, the third replays it
        got = engine(ins)["y"]
        assert rel(got, want) < 1e-5


@pytest.mark.parametrize("sizes", ["none", "attention"], ids=["sizes", "constant-sizes"])
@pytest.mark.parametrize("causal", [False, True])
def test_attention_on_the_gpu(sizes: str, causal: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The flash-attention kernel (FP16, 2 x 4 heads of 64, 200 queries and keys: a partial key
    tile) compiles on this card's Triton and matches torch's attention in float32, also with its
    sizes as constants (``TRITIUM_CONSTEXPR_SIZES=attention``)."""
    import torch

    monkeypatch.setenv("TRITIUM_CONSTEXPR_SIZES", sizes)
    b, h, s, d = 2, 4, 200, 64
    t = ty((b, h, s, d))
    text = f"""func.func @main(%q: {t}, %k: {t}, %v: {t}) -> {t} {{
  %y, %pk, %pv, %qk = nn.attention %q, %k, %v {{is_causal = {str(causal).lower()}, scale = 0.125}} : ({t}, {t}, {t}) -> ({t}, {t}, {t}, {ty((b, h, s, s))})
  func.return %y : {t}
}}"""
    module, fused, kernel = one_kernel(text)
    assert (" SK: tl.constexpr," in kernel.source) == (sizes != "none")
    q, k, v = (torch.randn(b, h, s, d, dtype=torch.float16, device="cuda") for _ in range(3))
    env = dict(zip(module.main.args, [q, k, v]))
    want = torch.nn.functional.scaled_dot_product_attention(
        q.float(), k.float(), v.float(), is_causal=causal, scale=0.125
    )
    got = torch.full_like(q, float("nan"))
    kernel([env[x] for x in fused.operands], [got])
    assert rel(got.cpu().float(), want.cpu()) < 5e-3


def test_four_contexts_in_threads(rng: np.random.Generator) -> None:
    import threading

    text = f"""func.func @main(%x: {ty((64, 64), "f32")}) -> {ty((64, 64), "f32")} attributes {{input_names = ["x"], output_names = ["y"]}} {{
  %y = nn.matmul %x, %x : ({ty((64, 64), "f32")}, {ty((64, 64), "f32")}) -> {ty((64, 64), "f32")}
  %t = nn.tanh %y : {ty((64, 64), "f32")}
  func.return %t : {ty((64, 64), "f32")}
}}"""
    engine = tr.compile(ir.parse_ir(text), device="cuda")
    xs = [rng.standard_normal((64, 64)).astype(np.float32) / 8 for _ in range(4)]
    want = [np.tanh(x.astype(np.float64) @ x) for x in xs]
    errs: dict[int, float] = {}

    def work(i: int) -> None:
        ctx = engine.create_execution_context()
        for _ in range(5):
            errs[i] = rel(ctx.run({"x": xs[i]})["y"], want[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errs) == 4 and max(errs.values()) < 1e-5


@pytest.mark.parametrize("fp16,tol", [(False, 1e-5), (True, 5e-3)])
def test_deconvolution_on_the_gpu(fp16: bool, tol: float, rng: np.random.Generator) -> None:
    """A DCGAN-style 4x4 stride-2 upsampling with groups and a fused ReLU, generated kernel only."""
    import torch

    builder = tr.Builder(tr.Logger())
    net = builder.create_network()
    x = net.add_input("x", tr.float32, (4, 64, 16, 16))
    w = rng.standard_normal((64, 16, 4, 4)).astype(np.float32) * 0.1
    b = rng.standard_normal(32).astype(np.float32)
    layer = net.add_deconvolution_nd(x, 32, (4, 4), w, b)
    layer.stride_nd, layer.padding_nd, layer.num_groups = (2, 2), (1, 1), 2
    act = net.add_activation(layer.get_output(0), tr.ActivationType.RELU)
    act.get_output(0).name = "y"
    net.mark_output(act.get_output(0))
    config = builder.create_builder_config()
    if fp16:
        config.set_flag(tr.BuilderFlag.FP16)
    config.device = "cuda"
    engine = builder.build_engine_with_config(net, config)
    xs = rng.standard_normal((4, 64, 16, 16)).astype(np.float32)
    assert engine.host_steps({"x": xs.shape}) == []
    t = torch.from_numpy
    want = torch.relu(torch.nn.functional.conv_transpose2d(t(xs), t(w), t(b), 2, 1, groups=2)).numpy()
    for _ in range(3):  # the second run captures a CUDA graph, the third replays it
        got = engine({"x": xs})["y"]
        assert got.shape == (4, 32, 32, 32) and rel(got, want) < tol


@pytest.mark.parametrize("level", [0, 2])
def test_int8_gemm_and_conv_on_the_gpu(level: int, rng: np.random.Generator) -> None:
    """i8 x i8 products (int8 tensor cores, int32 accumulation) are exact on the GPU: a GEMM of odd
    sizes and a strided grouped convolution, their int32 results cast to f32 in the epilogue (at
    level 2 tuned, the torch._int_mm tactic competing)."""
    import torch

    m, k, n = 333, 200, 136
    gemm = f"""func.func @main(%a: {ty((m, k), "i8")}, %b: {ty((k, n), "i8")}) -> {ty((m, n), "f32")} attributes {{input_names = ["a", "b"], output_names = ["y"]}} {{
  %p = nn.matmul_integer %a, %b : ({ty((m, k), "i8")}, {ty((k, n), "i8")}) -> {ty((m, n), "i32")}
  %y = nn.cast %p {{to = f32}} : ({ty((m, n), "i32")}) -> {ty((m, n), "f32")}
  func.return %y : {ty((m, n), "f32")}
}}"""
    a = rng.integers(-128, 128, (m, k)).astype(np.int8)
    b = rng.integers(-128, 128, (k, n)).astype(np.int8)
    engine = tr.compile(ir.parse_ir(gemm), device="cuda", opt_level=level)
    assert not engine.host_steps({"a": a.shape, "b": b.shape})
    for _ in range(3):
        np.testing.assert_array_equal(engine({"a": a, "b": b})["y"], a.astype(np.int64) @ b.astype(np.int64))
    xs, ws, ys = (2, 16, 15, 15), (32, 8, 3, 3), (2, 32, 8, 8)
    conv = f"""func.func @main(%x: {ty(xs, "i8")}, %w: {ty(ws, "i8")}) -> {ty(ys, "f32")} attributes {{input_names = ["x", "w"], output_names = ["y"]}} {{
  %p = nn.conv_integer %x, %w {{strides = [2, 2], pads = [1, 1, 1, 1], dilations = [1, 1], group = 2}} : ({ty(xs, "i8")}, {ty(ws, "i8")}) -> {ty(ys, "i32")}
  %y = nn.cast %p {{to = f32}} : ({ty(ys, "i32")}) -> {ty(ys, "f32")}
  func.return %y : {ty(ys, "f32")}
}}"""
    x = rng.integers(-128, 128, xs).astype(np.int8)
    w = rng.integers(-128, 128, ws).astype(np.int8)
    want = torch.nn.functional.conv2d(
        torch.from_numpy(x).double(), torch.from_numpy(w).double(), stride=2, padding=1, groups=2
    ).numpy()
    engine = tr.compile(ir.parse_ir(conv), device="cuda", opt_level=level)
    assert not engine.host_steps({"x": xs, "w": ws})
    np.testing.assert_array_equal(engine({"x": x, "w": w})["y"], want)


@pytest.mark.parametrize("activations", ["i8", "u8"])
def test_onnxruntime_quantized_cnn_on_the_gpu(activations: str, tmp_path, rng: np.random.Generator) -> None:
    """A CNN quantized by onnxruntime (QDQ int8 weights; int8 activations, or onnxruntime's default
    uint8 with zero points) built for the GPU: int8 channels-last convolutions (3x3, depthwise, 1x1
    as GEMMs on K-major int8 weights; u8 shifted into int8 with a column-sum correction), correctly
    rounded requantization. Against the spec (``spec_outputs``: onnx's reference evaluator, since
    onnxruntime saturates u8 x s8 products on CPUs without VNNI): at most one quantization step
    apart (the GPU may fuse the epilogue's multiply-add), and nearly everywhere equal."""
    import torch

    from tests.codegen.test_int8 import onnxruntime_int8_case

    class CNN(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1 = torch.nn.Conv2d(3, 32, 3, padding=1)
            self.dw = torch.nn.Conv2d(32, 32, 3, padding=1, groups=32)
            self.pw = torch.nn.Conv2d(32, 64, 1)
            self.fc = torch.nn.Linear(64, 16)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = torch.relu(self.c1(x))
            return self.fc(torch.relu(self.pw(torch.relu(self.dw(y)) + y)).mean((2, 3)))

    int8, x, want = onnxruntime_int8_case(CNN(), (4, 3, 16, 16), tmp_path, rng, activations)
    engine = tr.compile(int8, device="cuda")
    assert engine.host_steps({"x": x.shape}) == []
    ops = [o for s in engine.program({"x": x.shape}).steps if s.mode == "kernel" for o in s.op.ops]
    assert [o.name for o in ops].count("nn.conv_integer") == 2
    got = engine({"x": x})["y"]
    step = np.min(np.abs(np.diff(np.unique(want))))  # the output's quantization step
    # (failed once in about ten runs, seed unknown, in the nineteenth session; 27 seeds in a row
    # passed in the twentieth and every CPU seed matches exactly: say enough to find it next time)
    ref = np.asarray(tr.compile(int8, backend="reference")({"x": x})["y"])
    why = (
        f"{int((got != want).sum())} of {got.size} values differ from the spec's (images "
        f"{np.nonzero((got != want).any(axis=-1))[0].tolist()}), at most {np.abs(got - want).max() / step:.2f} "
        f"steps; {int((got != ref).sum())} from the reference backend, which differs from the spec "
        f"in {int((ref != want).sum())}"
    )
    assert np.abs(got - want).max() <= step * 1.01, why
    assert np.mean(got != want) < 0.02, why


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"TMA": 1},
        {"TMA": 1, "SPLIT": 1},
        {"TMA": 1, "PERSISTENT": 1},
        {"TMA": 1, "PERSISTENT": 1, "SPLIT": 1},
        {"TMA": 1, "PERSISTENT": 1, "WS": 1},
        {"TMA": 1, "PERSISTENT": 1, "WS": 1, "SPLIT": 1},
        {"TMA": 1, "STREAMK": 1},
        {"TMA": 1, "STREAMK": 1, "TMA_STORE": 1},
        {"TMA": 1, "TMA_STORE": 1},
    ],
    ids=[
        "pointers",
        "tma",
        "tma-split",
        "persistent",
        "persistent-split",
        "ws",
        "ws-split",
        "streamk",
        "streamk-store",
        "tma-store",
    ],
)
@pytest.mark.parametrize("static_k", [False, True], ids=["k", "static-k"])
def test_every_gemm_form_on_the_gpu(form: dict, static_k: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each form the tuner may pick (Hopper: TMA, persistent, warp-specialized; the epilogue on the
    whole tile or on its column halves) compiles on this card's Triton and computes GEMM + bias +
    GELU + residual as torch does; 333 rows, 200 columns: partial tiles in both directions. With
    ``TRITIUM_CONSTEXPR_SIZES=gemm`` and K = 96, K is the kernel's constant and its last step masked."""
    from tritium.codegen.triton_env import persistent_available, tma_available

    needs_persistent = form.get("PERSISTENT") or form.get("STREAMK")
    if (form.get("TMA") and not tma_available()) or (needs_persistent and not persistent_available()):
        pytest.skip("this GPU or Triton has no TMA / persistent form")
    if static_k:
        monkeypatch.setenv("TRITIUM_CONSTEXPR_SIZES", "gemm")
    shape = (333, 96 if static_k else 256, 200)
    kernel = check_gemm_form(shape, {"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 64, **form})
    assert (" K: tl.constexpr," in kernel.source) == static_k


@pytest.mark.parametrize("tile", [(64, 64, 4), (128, 128, 4), (128, 256, 8)])
def test_streamk_waves_on_the_gpu(tile: tuple[int, int, int]) -> None:
    """Stream-K on 2100 x 512 x n, n picked for this card: at 64 x 64 the tiles make at least two
    waves and not a whole number of them, so rounds of whole tiles come first and the last waves'
    K steps are split (on 132 SMs: 561 tiles, 3 rounds of 132, 165 tiles split); at 128 x 128 and
    128 x 256 under two waves (136 and 68 tiles), all split, a tile over up to three programs."""
    from tritium.codegen.triton_env import persistent_available, sm_count

    if not persistent_available():
        pytest.skip("this GPU or Triton has no TMA / persistent form")
    bm, bn, warps = tile
    sms, m = sm_count(), 2100

    def tiles(n: int) -> int:
        return -(-m // bm) * -(-n // bn)

    n = next(n for n in range(1000, 4000, 64) if tiles(n) % sms and (tiles(n) >= 2 * sms or bm > 64))
    if bm == 64:
        assert tiles(n) // sms - 1 >= 1 and tiles(n) % sms  # whole-tile rounds, then split tiles
    form = {"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": 64, "num_warps": warps, "TMA": 1, "STREAMK": 1}
    check_gemm_form((m, 512, n), form)


def check_gemm_form(shape: tuple[int, int, int], form: dict) -> Any:
    """GEMM + bias + GELU + residual in config ``form`` against torch in float32, three launches in
    a row on different inputs (stream-K: a finisher that read a stale partial, or a flag left
    raised, would show; the flags must be back at zero after each launch). Returns the kernel."""
    import torch

    m, k, n = shape
    text = gemm_gelu_residual(m, k, n)
    module, fused, kernel = one_kernel(text)
    got = torch.empty(m, n, dtype=torch.float16, device="cuda")
    cfg = {"GROUP_M": 8, "num_warps": 4, "num_stages": 3, **form}
    for _ in range(3):
        a, b, c, r = (
            torch.randn(s, dtype=torch.float16, device="cuda") / 4 for s in [(m, k), (k, n), (n,), (m, n)]
        )
        env = dict(zip(module.main.args, [a, b, c, r]))
        want = torch.nn.functional.gelu(a.float() @ b.float() + c.float()) + r.float()
        got.fill_(float("nan"))
        kernel([env[v] for v in fused.operands], [got], cfg)
        assert rel(got.cpu().float(), want.cpu()) < 5e-3
        assert all(int(flags.abs().sum()) == 0 for _, flags in kernel._workspaces.by_key.values())
    return kernel


def test_3d_convolution_on_the_gpu(rng: np.random.Generator) -> None:
    """A Conv3d (lower-conv-nd: channels-last 2-D convolutions over the depth taps) in FP16 on the
    GPU against torch's conv3d in float32."""
    import torch

    x = rng.standard_normal((2, 8, 6, 10, 10)).astype(np.float32)
    w = (rng.standard_normal((16, 8, 3, 3, 3)) * 0.2).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    xt, wt, bt = (ty(s.shape, "f32") for s in (x, w, b))
    out = ty((2, 16, 3, 10, 10), "f32")
    text = f"""func.func @main(%x: {xt}, %w: {wt}, %b: {bt}) -> {out} attributes {{input_names = ["x", "w", "b"], output_names = ["y"]}} {{
  %y = nn.conv %x, %w, %b {{strides = [2, 1, 1], pads = [1, 1, 1, 1, 1, 1], dilations = [1, 1, 1]}} : ({xt}, {wt}, {bt}) -> {out}
  func.return %y : {out}
}}"""
    engine = tr.compile(ir.parse_ir(text), device="cuda", fp16=True)
    assert not engine.host_steps({"x": x.shape, "w": w.shape, "b": b.shape})
    got = engine({"x": x, "w": w, "b": b})["y"]
    want = torch.nn.functional.conv3d(*(torch.from_numpy(t) for t in (x, w, b)), stride=(2, 1, 1), padding=1)
    assert rel(got, want.numpy()) < 5e-3


def test_round_of_a_product_on_the_gpu(rng: np.random.Generator) -> None:
    """round(a * b) half to even on the GPU: the compiler may fuse the product into an addition
    (an FMA keeps the unrounded product), which must not change a tie's rounding."""
    n = 1 << 20
    t = f"tensor<{n}xf32>"
    text = f"""func.func @main(%a: {t}, %b: {t}) -> {t} attributes {{input_names = ["a", "b"], output_names = ["y"]}} {{
  %x = nn.mul %a, %b : ({t}, {t}) -> {t}
  %y = nn.round %x : {t}
  func.return %y : {t}
}}"""
    a = rng.uniform(-3000, 3000, n).astype(np.float32)
    b = rng.uniform(-3, 3, n).astype(np.float32)
    engine = tr.compile(ir.parse_ir(text), device="cuda")
    np.testing.assert_array_equal(engine({"a": a, "b": b})["y"], np.rint(a * b))


@pytest.mark.parametrize(
    "c,h,w,k,r,pads,bk",
    [
        (64, 14, 13, 48, 3, (1, 1, 1, 1), 64),  # "same": a 3x3 with padding, partial tiles
        (32, 9, 11, 40, 3, (2, 0, 0, 2), 32),  # "same", asymmetric pads
        (16, 23, 21, 64, 4, (0, 0, 0, 0), 64),  # "valid": window rows over overlapping pixel rows
        (16, 23, 21, 32, 2, (0, 0, 0, 0), 16),  # "valid": one tap per block
    ],
)
@pytest.mark.parametrize("static", [False, True], ids=["window", "static-window"])
def test_conv_tma_forms_on_the_gpu(
    c, h, w, k, r, pads, bk, static: bool, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The convolution's TMA forms (pixel-row boxes per tap; Hopper) and its pointer form compile
    on this card's Triton and compute conv + bias + per-pixel scale + ReLU as torch does, in
    batches of 3 images (tiles straddle images), the output poisoned first; also with the window's
    sizes as constants (``TRITIUM_CONSTEXPR_SIZES=conv``)."""
    import torch

    if static:
        monkeypatch.setenv("TRITIUM_CONSTEXPR_SIZES", "conv")

    from tritium.codegen.triton_env import tma_available

    if not tma_available():
        pytest.skip("this GPU or Triton has no TMA")
    n = 3
    oh, ow = h + pads[0] + pads[2] - r + 1, w + pads[1] + pads[3] - r + 1
    x, wt, b, o, p = (ty(s) for s in ((n, h, w, c), (k, r, r, c), (k,), (n, oh, ow, k), (n, oh, ow, 1)))
    text = f"""func.func @main(%x: {x}, %w: {wt}, %b: {b}, %p: {p}) -> {o} {{
  %y = nn.conv %x, %w, %b {{strides = [1, 1], pads = {list(pads)}, dilations = [1, 1], layout = "NHWC"}} : ({x}, {wt}, {b}) -> {o}
  %s = nn.mul %y, %p : ({o}, {p}) -> {o}
  %z = nn.relu %s : {o}
  func.return %z : {o}
}}"""
    module, fused, kernel = one_kernel(text)
    assert kernel.tma == ("valid" if not any(pads) else "same")
    xs, ws, bs, ps = (
        torch.randn(s, dtype=torch.float16, device="cuda") / 4
        for s in [(n, h, w, c), (k, r, r, c), (k,), (n, oh, ow, 1)]
    )
    env = dict(zip(module.main.args, [xs, ws, bs, ps]))
    xp = torch.nn.functional.pad(xs.permute(0, 3, 1, 2).float(), (pads[1], pads[3], pads[0], pads[2]))
    want = torch.relu(
        torch.nn.functional.conv2d(xp, ws.permute(0, 3, 1, 2).float(), bs.float()).permute(0, 2, 3, 1)
        * ps.float()
    )
    assert (" R: tl.constexpr," in kernel.source) == static
    for tma in (1, 0):
        got = torch.full((n, oh, ow, k), float("nan"), dtype=torch.float16, device="cuda")
        cfg = {
            "TMA": tma,
            "BLOCK_M": 128,
            "BLOCK_N": 64,
            "BLOCK_K": bk,
            "GROUP_M": 8,
            "num_warps": 8 if not any(pads) else 4,
            "num_stages": 3,
        }
        kernel([env[v] for v in fused.operands], [got], cfg)
        assert rel(got.cpu().float(), want.cpu()) < 5e-3, cfg


def test_space_to_depth_stem_on_the_gpu(rng: np.random.Generator) -> None:
    """A ResNet stem (7x7, stride 2, 3 channels, batch 2, FP16) through convert-layout's
    space-to-depth rewrite: every layer on a generated kernel, the result as torch's conv2d."""
    import torch

    from tritium.codegen import ConvKernel

    x = rng.standard_normal((2, 3, 61, 58)).astype(np.float32)
    w = (rng.standard_normal((64, 3, 7, 7)) / 10).astype(np.float32)
    b = rng.standard_normal(64).astype(np.float32)
    net = tr.Builder(tr.Logger()).create_network()
    inp = net.add_input("x", tr.float32, x.shape)
    conv = net.add_convolution_nd(inp, 64, (7, 7), w, b)
    conv.stride_nd, conv.padding_nd = (2, 2), (3, 3)
    relu = net.add_activation(conv.get_output(0), tr.ActivationType.RELU)
    relu.get_output(0).name = "y"
    net.mark_output(relu.get_output(0))
    builder = tr.Builder(tr.Logger())
    config = builder.create_builder_config()
    config.set_flag(tr.BuilderFlag.FP16)
    engine = builder.build_engine_with_config(net, config)
    assert engine.host_steps({"x": x.shape}) == []
    convs = [s.kernel for s in engine.program({"x": x.shape}).steps if isinstance(s.kernel, ConvKernel)]
    assert [tuple(k.conv.operand(1).type.shape) for k in convs] == [(64, 4, 4, 16)]  # the rewritten stem
    want = torch.relu(
        torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), 2, 3)
    )
    assert rel(engine({"x": x})["y"], want.numpy()) < 5e-3


_F8_FORMS = {
    "pointers": {},
    "tma": {"TMA": 1},
    "persistent": {"TMA": 1, "PERSISTENT": 1},
    "ws": {"TMA": 1, "PERSISTENT": 1, "WS": 1},
    "tma-store": {"TMA": 1, "TMA_STORE": 1},
}
_F8_CASES = [(f, k) for f in _F8_FORMS for k in (True, False)] + [("library", True)]  # cuBLASLt: K-major only


@pytest.mark.parametrize(
    "name,kmajor", _F8_CASES, ids=[f"{f}-{'k' if k else 'n'}-major" for f, k in _F8_CASES]
)
def test_float8_gemm_forms_on_the_gpu(name: str, kmajor: bool) -> None:
    """A float 8 (e4m3) GEMM with a scaling epilogue in each form the tuner may pick (the FP8 tensor
    cores, f32 sums; the weight K-major as the runtime holds it, or row-major) against exact sums of
    the same values: the products are exact, the FP8 tensor cores sum them in fewer bits than f32,
    so the error may be as large as cuBLASLt's FP8 GEMM's (precise accumulation), not larger."""
    import torch

    from tritium.codegen import kernel_for
    from tritium.codegen.triton_env import persistent_available, tma_available
    from tritium.passes import PassManager

    form = {"LIBRARY": 1} if name == "library" else _F8_FORMS[name]
    if (form.get("TMA") and not tma_available()) or (form.get("PERSISTENT") and not persistent_available()):
        pytest.skip("this GPU or Triton has no TMA / persistent form")
    if torch.cuda.get_device_capability() < (8, 9):
        pytest.skip("float 8 tensor cores need sm_89 or later")
    m, k, n = 333, 256, 208
    o = ty((m, n), "f32")
    text = f"""func.func @main(%a: {ty((m, k), "f8E4M3FN")}, %b: {ty((k, n), "f8E4M3FN")}) -> {o} {{
  %p = nn.matmul_float8 %a, %b : ({ty((m, k), "f8E4M3FN")}, {ty((k, n), "f8E4M3FN")}) -> {o}
  %s = nn.constant dense<0.0625> : tensor<f32>
  %y = nn.mul %p, %s : ({o}, tensor<f32>) -> {o}
  func.return %y : {o}
}}"""
    module = ir.parse_ir(text)
    PassManager("fuse-kernels,dce").run(module)
    kernel = kernel_for(next(op for op in module.main.block.ops if op.name == "kernel.fused"))
    a = (torch.randn(m, k, device="cuda") * 8).to(torch.float8_e4m3fn)
    b = (torch.randn(k, n, device="cuda") * 8).to(torch.float8_e4m3fn)
    if kmajor:
        b = b.t().contiguous().t()
    want = (a.double() @ b.double()) * 0.0625
    cfg = {
        "BLOCK_M": 128,
        "BLOCK_N": 128,
        "BLOCK_K": 128,
        "GROUP_M": 8,
        "num_warps": 8,
        "num_stages": 3,
        **form,
    }
    got = torch.full((m, n), float("nan"), device="cuda")
    kernel([a, b], [got], cfg)
    one = torch.ones((), device="cuda")
    cublas = (
        torch._scaled_mm(a, b.t().contiguous().t(), scale_a=one, scale_b=one, out_dtype=torch.float32)
        * 0.0625
    )

    def error(x: torch.Tensor) -> float:
        return float((x.double() - want).norm() / want.norm())

    assert error(got) <= 1.5 * error(cublas) + 1e-7, (error(got), error(cublas))


@pytest.mark.parametrize("dt", ["f8E4M3FN", "f8E5M2"])
def test_fp8_quantized_mlp_on_the_gpu(dt: str, tmp_path, rng: np.random.Generator) -> None:
    """The float 8 Q/DQ MLP of the CPU tests built for the GPU and tuned (level 2: the cuBLASLt FP8
    tactic competing): float 8 GEMMs throughout, the output onnxruntime's (graph optimizations
    off) on 95% of the values and within 2% of it as a whole."""
    from tests.codegen.test_fp8 import fp8_mlp_case

    _, path, x, want = fp8_mlp_case(dt, 64, tmp_path, rng)
    engine = tr.compile(str(path), device="cuda", opt_level=2)
    assert not engine.host_steps({"x": x.shape})
    got = engine({"x": x})["y"]
    # The GPU sums each product in another order than onnxruntime (and in the FP8 tensor cores'
    # narrower adders): an intermediate value near a rounding boundary of its quantization may land
    # on the other side, a step of up to 32 units at e4m3's top, which the second layer carries to
    # a few output steps. So: nearly all values equal, and the output close as a whole.
    assert np.mean(got != want) < 0.05, f"{np.mean(got != want):.3f} of the values differ"
    assert np.linalg.norm(got - want) <= 0.02 * np.linalg.norm(want)


@pytest.mark.parametrize(
    "case", ["3x3-same", "1x1", "depthwise-strided", "3x3-valid-e5m2", "stem-3-channels"]
)
@pytest.mark.parametrize("level", [0, 2])
def test_fp8_convolutions_on_the_gpu(case: str, level: int, rng: np.random.Generator) -> None:
    """The float 8 convolutions of the CPU tests on the GPU (level 2: tuned, the TMA forms among the
    candidates): the products exact, the sums the FP8 tensor cores' (each BLOCK_K step apart)."""
    import torch

    from tests.codegen.test_fp8 import FP8_CONVS, fp8_conv_case

    if torch.cuda.get_device_capability() < (8, 9):
        pytest.skip("float 8 tensor cores need sm_89 or later")
    text, resources, x = fp8_conv_case(*FP8_CONVS[case][0], rng)
    module = ir.parse_ir(text)
    module.resources.update(resources)
    want = ir.run_reference(module, [x])[0]
    module = ir.parse_ir(text)
    module.resources.update(resources)
    engine = tr.compile(module, device="cuda", opt_level=level)
    assert not engine.host_steps({"x": x.shape})
    assert rel(engine({"x": x})["output_0"], want) < 1e-4


def test_quantizing_attention_epilogue_on_the_gpu(rng: np.random.Generator) -> None:
    """Attention whose output is quantized to e4m3 after the head merge (an FP8 network's out-
    projection input): the quantize runs in the attention kernel's epilogue (canonicalize moves it
    above the merge), bit for bit what quantizing the engine's own f16 attention output gives."""
    import ml_dtypes

    b, h, s, d = 4, 12, 128, 64
    o, m, f, q8 = ty((b, h, s, d)), ty((b, s, h, d)), ty((b, s, h * d), "f32"), ty((b, s, h * d), "f8E4M3FN")
    shape = "dense<[4, 128, 768]> : tensor<3xi64>"
    head = f"""func.func @main(%q: {o}, %k: {o}, %v: {o}) -> RET attributes {{input_names = ["q", "k", "v"], output_names = ["y"]}} {{
  %y, %pk, %pv, %qk = nn.attention %q, %k, %v : ({o}, {o}, {o}) -> ({o}, {o}, {o}, {ty((b, h, s, s))})
  %t = nn.transpose %y {{perm = [0, 2, 1, 3]}} : ({o}) -> {m}
  %sh = nn.constant {shape}
  %r = nn.reshape %t, %sh : ({m}, tensor<3xi64>) -> {ty((b, s, h * d))}"""
    quant = f"""{head}
  %x = nn.cast %r {{to = f32}} : ({ty((b, s, h * d))}) -> {f}
  %c = nn.constant dense<0.004> : tensor<f32>
  %e = nn.div %x, %c : ({f}, tensor<f32>) -> {f}
  %z = nn.cast %e {{to = f8E4M3FN, saturate = true}} : ({f}) -> {q8}
  func.return %z : {q8}
}}""".replace("RET", q8)
    plain = f"""{head}
  func.return %r : {ty((b, s, h * d))}
}}""".replace("RET", ty((b, s, h * d)))
    ins = {n: rng.standard_normal((b, h, s, d)).astype(np.float16) for n in "qkv"}
    engine = tr.compile(ir.parse_ir(quant), device="cuda", opt_level=2)
    layers = engine.inspect({n: x.shape for n, x in ins.items()})["layers"]
    kernels = [layer["kernel"] for layer in layers if layer["kernel"]]  # (the head merge: views)
    assert kernels == ["attention_cast_div_cast"], kernels
    got = np.asarray(engine(ins)["y"])
    y = np.asarray(tr.compile(ir.parse_ir(plain), device="cuda", opt_level=2)(ins)["y"]).astype(np.float32)
    want = np.clip(y / np.float32(0.004), -448, 448).astype(ml_dtypes.float8_e4m3fn)
    assert np.array_equal(got.view(np.uint8), want.view(np.uint8))
