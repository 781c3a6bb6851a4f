"""Split-K convolutions and GEMMs on a CUDA GPU (skipped without one): programs of one tile run at the same
time there, so the workspace hand-over and the counters meet real concurrency. ResNet-50's late
stages at batch 4 (7 x 7 and 14 x 14 pixels, 3x3 windows), through pointers and the TMA form,
against torch; replayed from a CUDA graph to see the counters reset between launches."""

from __future__ import annotations

import pytest

import tritium.ir as ir

pytestmark = pytest.mark.gpu


def _ty(shape) -> str:
    return "tensor<" + "".join(f"{d}x" for d in shape) + "f16>"


@pytest.mark.parametrize("split", [2, 3, 4])
@pytest.mark.parametrize(
    "hw,c,stride,tma", [(7, 512, 1, 0), (7, 512, 1, 1), (14, 256, 1, 0), (14, 256, 1, 1), (14, 128, 2, 0)]
)  # (strided convolutions have no TMA form)
def test_split_k_convolution_on_the_gpu(hw: int, c: int, stride: int, tma: int, split: int) -> None:
    import torch

    from tritium.codegen import kernel_for
    from tritium.codegen.triton_env import tma_available
    from tritium.passes import PassManager

    if tma and not tma_available():
        pytest.skip("this GPU or Triton has no TMA")
    n, oh = 4, (hw - 1) // stride + 1
    x, w, b, o = (_ty(s) for s in ((n, hw, hw, c), (c, 3, 3, c), (c,), (n, oh, oh, c)))
    text = f"""func.func @main(%x: {x}, %w: {w}, %b: {b}, %r: {o}) -> {o} {{
  %y = nn.conv %x, %w, %b {{strides = [{stride}, {stride}], pads = [1, 1, 1, 1], dilations = [1, 1], layout = "NHWC"}} : ({x}, {w}, {b}) -> {o}
  %s = nn.add %y, %r : {o}
  %z = nn.relu %s : {o}
  func.return %z : {o}
}}"""
    module = ir.parse_ir(text)
    PassManager("fuse-kernels,dce").run(module)
    fused = next(op for op in module.main.block.ops if op.name == "kernel.fused")
    kernel = kernel_for(fused)
    assert kernel.splittable
    g = torch.Generator(device="cuda").manual_seed(0)
    xs, ws, bs, rs = (
        torch.randn(s, dtype=torch.float16, device="cuda", generator=g) / 8
        for s in [(n, hw, hw, c), (c, 3, 3, c), (c,), (n, oh, oh, c)]
    )
    want = torch.relu(
        torch.nn.functional.conv2d(
            xs.permute(0, 3, 1, 2).float(), ws.permute(0, 3, 1, 2).float(), bs.float(), stride, 1
        ).permute(0, 2, 3, 1)
        + rs.float()
    )
    cfg = {"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 64, "num_warps": 8 if tma else 4, "num_stages": 3}
    cfg.update({"TMA": 1} if tma else {})
    got = torch.full((n, oh, oh, c), float("nan"), dtype=torch.float16, device="cuda")
    args = [dict(zip(module.main.args, [xs, ws, bs, rs]))[v] for v in fused.operands]
    kernel(args, [got], {**cfg, "SPLIT_K": split})
    whole = torch.empty_like(got)
    kernel(args, [whole], cfg)
    torch.cuda.synchronize()
    err = float((got.float() - want).norm() / want.norm())
    assert err < 5e-3, err
    assert float((got.float() - whole.float()).abs().max()) <= 2e-3 * float(whole.float().abs().max())
    # a launch on the capture stream first: its workspace exists before the capture, so no zero-fill
    # of the counters is captured and each replay relies on the last program's reset
    graph, again, side = torch.cuda.CUDAGraph(), torch.empty_like(got), torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        kernel(args, [again], {**cfg, "SPLIT_K": split})
    side.synchronize()
    with torch.cuda.graph(graph, stream=side):
        kernel(args, [again], {**cfg, "SPLIT_K": split})
    for _ in range(5):
        again.fill_(float("nan"))
        graph.replay()
        torch.cuda.synchronize()
        assert torch.equal(again, got)  # counters back at zero, the same bits each launch


@pytest.mark.parametrize("split", [2, 4, 8])
@pytest.mark.parametrize("tma", [0, 1])
@pytest.mark.parametrize("m,k,n", [(49, 2048, 512), (1, 2048, 1000), (1568, 2048, 512)])
def test_split_k_gemm_on_the_gpu(m: int, k: int, n: int, tma: int, split: int) -> None:
    """The GEMM template's split on ResNet-50's late 1x1 convolutions and classifier (batch 1 and
    32): bias + ReLU against torch, the same bits in every CUDA-graph replay."""
    import torch

    from tritium.codegen import kernel_for
    from tritium.passes import PassManager

    a, w, b, o = _ty((m, k)), _ty((k, n)), _ty((n,)), _ty((m, n))
    text = f"""func.func @main(%a: {a}, %w: {w}, %b: {b}) -> {o} {{
  %y = nn.matmul %a, %w : ({a}, {w}) -> {o}
  %s = nn.add %y, %b : ({o}, {_ty((n,))}) -> {o}
  %z = nn.relu %s : {o}
  func.return %z : {o}
}}"""
    module = ir.parse_ir(text)
    PassManager("fuse-kernels,dce").run(module)
    fused = next(op for op in module.main.block.ops if op.name == "kernel.fused")
    kernel = kernel_for(fused)
    assert kernel.splittable
    g = torch.Generator(device="cuda").manual_seed(0)
    xs, ws, bs = (
        torch.randn(s, dtype=torch.float16, device="cuda", generator=g) / 8 for s in [(m, k), (k, n), (n,)]
    )
    want = torch.relu(xs.float() @ ws.float() + bs.float())
    cfg = {"BLOCK_M": 64, "BLOCK_N": 128, "BLOCK_K": 64, "GROUP_M": 8, "num_warps": 4, "num_stages": 3}
    cfg.update({"TMA": 1} if tma else {})
    args = [dict(zip(module.main.args, [xs, ws, bs]))[v] for v in fused.operands]
    got = torch.full((m, n), float("nan"), dtype=torch.float16, device="cuda")
    kernel(args, [got], {**cfg, "SPLIT_K": split})
    torch.cuda.synchronize()
    err = float((got.float() - want).norm() / want.norm())
    assert err < 5e-3, err
    graph, again, side = torch.cuda.CUDAGraph(), torch.empty_like(got), torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        kernel(args, [again], {**cfg, "SPLIT_K": split})
    side.synchronize()
    with torch.cuda.graph(graph, stream=side):
        kernel(args, [again], {**cfg, "SPLIT_K": split})
    for _ in range(5):
        again.fill_(float("nan"))
        graph.replay()
        torch.cuda.synchronize()
        assert torch.equal(again, got)
