"""The generated depthwise 3x3 + ReLU6 kernel (MobileNetV2's shapes, NHWC, FP16) against cuDNN on
the GPU (RESULTS.md, twentieth session): every config of the kernel's tuning space timed as a CUDA
graph, the best reported with its tile, beside cuDNN's depthwise convolution with and without the
clamp, and the bytes floor (input and output once at 3 TB/s).

    python benchmarks/depthwise.py
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from triton.testing import do_bench_cudagraph

import tritium.ir as ir
from tritium.codegen import kernel_for
from tritium.passes import PassManager

SHAPES = [(32, 112, 32, 1), (32, 112, 96, 2), (32, 56, 144, 1), (32, 56, 144, 2), (32, 28, 192, 1)]
SHAPES += [(32, 14, 384, 1), (32, 7, 960, 1), (1, 56, 144, 1)]  # (batch, size, channels, stride)


def ty(shape: tuple[int, ...]) -> str:
    return "tensor<" + "".join(f"{d}x" for d in shape) + "f16>"


def kernel(n: int, h: int, c: int, st: int, oh: int):
    x, w, o, b = ty((n, h, h, c)), ty((c, 3, 3, 1)), ty((n, oh, oh, c)), ty((c,))
    text = f"""func.func @main(%x: {x}, %w: {w}, %b: {b}) -> {o} {{
  %y = nn.conv %x, %w, %b {{strides = [{st}, {st}], pads = [1, 1, 1, 1], dilations = [1, 1], group = {c}, layout = "NHWC"}} : ({x}, {w}, {b}) -> {o}
  %lo = nn.constant dense<0.0> : tensor<f16>
  %hi = nn.constant dense<6.0> : tensor<f16>
  %r = nn.clip %y, %lo, %hi : ({o}, tensor<f16>, tensor<f16>) -> {o}
  func.return %r : {o}
}}"""
    module = ir.parse_ir(text)
    PassManager("fuse-kernels,dce").run(module)
    return kernel_for(next(op for op in module.main.block.ops if op.name == "kernel.fused"))


def main() -> None:
    for n, h, c, st in SHAPES:
        oh = (h - 1) // st + 1
        xs = torch.randn(n, h, h, c, device="cuda", dtype=torch.float16)
        ws = torch.randn(c, 3, 3, 1, device="cuda", dtype=torch.float16)
        bs = torch.randn(c, device="cuda", dtype=torch.float16)
        out = torch.empty(n, oh, oh, c, device="cuda", dtype=torch.float16)
        xn, wn = xs.permute(0, 3, 1, 2), ws.permute(0, 3, 1, 2)
        want = torch.clamp(F.conv2d(xn.float(), wn.float(), bs.float(), st, 1, 1, c), 0, 6).permute(
            0, 2, 3, 1
        )
        k = kernel(n, h, c, st, oh)
        best = None
        for cfg in k.config_space(3):
            if cfg.get("LIBRARY"):
                continue
            k([xs, ws, bs], [out], cfg)
            torch.cuda.synchronize()
            err = (out.float() - want).abs().max().item()
            t = do_bench_cudagraph(lambda cfg=cfg: k([xs, ws, bs], [out], cfg), rep=100) * 1000
            if best is None or t < best[0]:
                best = (round(t, 2), cfg["BLOCK_M"], cfg["BLOCK_N"], round(err, 4))
        cudnn = do_bench_cudagraph(lambda: F.conv2d(xn, wn, bs, st, 1, 1, c), rep=100) * 1000
        clamp = (
            do_bench_cudagraph(lambda: torch.clamp_(F.conv2d(xn, wn, bs, st, 1, 1, c), 0, 6), rep=100) * 1000
        )
        mb = (xs.numel() + out.numel()) * 2 / 1e6
        print(
            f"{(n, h, c, st)}: floor {mb / 3.0:.1f} us; generated (us, BLOCK_M, BLOCK_N, max error) {best}; "
            f"cuDNN {cudnn:.2f}, with the clamp {clamp:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
