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


def _kernel(text: str) -> tuple:
    """(module, its one fused kernel op, that op's generated kernel)."""
    from tritium.codegen import kernel_for
    from tritium.passes import PassManager

    module = ir.parse_ir(text)
    PassManager("fuse-kernels,dce").run(module)
    fused = next(op for op in module.main.block.ops if op.name == "kernel.fused")
    return module, fused, kernel_for(fused)


def _replays_on_new_inputs(kernel, args: list, out, cfg: dict, reference) -> None:
    """The split kernel captured in a CUDA graph on a side stream (after a launch there, so the
    capture holds no zero-fill of the counters) and replayed on new inputs, its workspaces poisoned
    with NaN before each replay: each replay must read only its own partials and leave every counter
    at zero for the next."""
    import torch

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        kernel(args, [out], cfg)
    side.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, stream=side):
        kernel(args, [out], cfg)
    for _ in range(4):
        for a in args:
            a.copy_(torch.randn_like(a) / 8)
        for ws, counters in kernel._workspaces.by_key.values():
            assert not counters.any()
            ws.fill_(float("nan"))
        out.fill_(float("nan"))
        graph.replay()
        torch.cuda.synchronize()
        want = reference(args)
        err = float((out.float() - want).norm() / want.norm())
        assert err < 5e-3, err
    assert all(not c.any() for _, c in kernel._workspaces.by_key.values())


@pytest.mark.parametrize("split", [2, 3, 4])
@pytest.mark.parametrize(
    "hw,c,stride,tma", [(7, 512, 1, 0), (7, 512, 1, 1), (14, 256, 1, 0), (14, 256, 1, 1), (14, 128, 2, 0)]
)  # (strided convolutions have no TMA form)
def test_split_k_convolution_on_the_gpu(hw: int, c: int, stride: int, tma: int, split: int) -> None:
    import torch

    from tritium.codegen.triton_env import tma_available

    if tma and not tma_available():
        pytest.skip("this GPU or Triton has no TMA")
    n, oh = 4, (hw - 1) // stride + 1
    x, w, b, o = (_ty(s) for s in ((n, hw, hw, c), (c, 3, 3, c), (c,), (n, oh, oh, c)))
    module, fused, kernel = _kernel(f"""func.func @main(%x: {x}, %w: {w}, %b: {b}, %r: {o}) -> {o} {{
  %y = nn.conv %x, %w, %b {{strides = [{stride}, {stride}], pads = [1, 1, 1, 1], dilations = [1, 1], layout = "NHWC"}} : ({x}, {w}, {b}) -> {o}
  %s = nn.add %y, %r : {o}
  %z = nn.relu %s : {o}
  func.return %z : {o}
}}""")
    assert kernel.splittable
    g = torch.Generator(device="cuda").manual_seed(0)
    shapes = [(n, hw, hw, c), (c, 3, 3, c), (c,), (n, oh, oh, c)]
    by_arg = dict(
        zip(
            module.main.args,
            (torch.randn(s, dtype=torch.float16, device="cuda", generator=g) / 8 for s in shapes),
        )
    )
    args = [by_arg[v] for v in fused.operands]
    order = [list(fused.operands).index(a) for a in module.main.args]  # x, w, b, r among the operands

    def reference(args: list) -> torch.Tensor:
        xs, ws, bs, rs = (args[i].float() for i in order)
        y = torch.nn.functional.conv2d(xs.permute(0, 3, 1, 2), ws.permute(0, 3, 1, 2), bs, stride, 1)
        return torch.relu(y.permute(0, 2, 3, 1) + rs)

    cfg = {"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 64, "num_warps": 8 if tma else 4, "num_stages": 3}
    cfg.update({"TMA": 1} if tma else {})
    got = torch.full((n, oh, oh, c), float("nan"), dtype=torch.float16, device="cuda")
    kernel(args, [got], {**cfg, "SPLIT_K": split})
    whole = torch.empty_like(got)
    kernel(args, [whole], cfg)
    torch.cuda.synchronize()
    want = reference(args)
    assert float((got.float() - want).norm() / want.norm()) < 5e-3
    assert float((got.float() - whole.float()).abs().max()) <= 2e-3 * float(whole.float().abs().max())
    _replays_on_new_inputs(kernel, args, torch.empty_like(got), {**cfg, "SPLIT_K": split}, reference)


@pytest.mark.parametrize("split", [2, 4, 8])
@pytest.mark.parametrize("tma", [0, 1])
@pytest.mark.parametrize("m,k,n", [(49, 2048, 512), (1, 2048, 1000), (1568, 2048, 512)])
def test_split_k_gemm_on_the_gpu(m: int, k: int, n: int, tma: int, split: int) -> None:
    """The GEMM template's split on ResNet-50's late 1x1 convolutions and classifier (batch 1 and
    32): bias + ReLU against torch, the same bits in every CUDA-graph replay."""
    import torch

    a, w, b, o = _ty((m, k)), _ty((k, n)), _ty((n,)), _ty((m, n))
    module, fused, kernel = _kernel(f"""func.func @main(%a: {a}, %w: {w}, %b: {b}) -> {o} {{
  %y = nn.matmul %a, %w : ({a}, {w}) -> {o}
  %s = nn.add %y, %b : ({o}, {_ty((n,))}) -> {o}
  %z = nn.relu %s : {o}
  func.return %z : {o}
}}""")
    assert kernel.splittable
    g = torch.Generator(device="cuda").manual_seed(0)
    shapes = [(m, k), (k, n), (n,)]
    by_arg = dict(
        zip(
            module.main.args,
            (torch.randn(s, dtype=torch.float16, device="cuda", generator=g) / 8 for s in shapes),
        )
    )
    args = [by_arg[v] for v in fused.operands]
    order = [list(fused.operands).index(x) for x in module.main.args]

    def reference(args: list) -> torch.Tensor:
        xs, ws, bs = (args[i].float() for i in order)
        return torch.relu(xs @ ws + bs)

    cfg = {"BLOCK_M": 64, "BLOCK_N": 128, "BLOCK_K": 64, "GROUP_M": 8, "num_warps": 4, "num_stages": 3}
    cfg.update({"TMA": 1} if tma else {})
    got = torch.full((m, n), float("nan"), dtype=torch.float16, device="cuda")
    kernel(args, [got], {**cfg, "SPLIT_K": split})
    torch.cuda.synchronize()
    want = reference(args)
    assert float((got.float() - want).norm() / want.norm()) < 5e-3
    _replays_on_new_inputs(kernel, args, torch.empty_like(got), {**cfg, "SPLIT_K": split}, reference)
