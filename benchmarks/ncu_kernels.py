"""Hardware counters for the kernels that miss issue 5's targets, ours beside the library's.

    ncu --clock-control none --nvtx --nvtx-include "prof/" --section SpeedOfLight \
        --section MemoryWorkloadAnalysis --section Occupancy --section LaunchStats \
        --section WarpStateStats python benchmarks/ncu_kernels.py [--only conv,attention]

Each kernel is tuned first (outside the profiled range), then launched twice inside the NVTX range
``prof`` beside its torch counterpart (cuDNN's channels-last convolution, SDPA), so the report
holds both kernels' names (a library kernel's name tells its tile), occupancy, throughput and
stall reasons. Without ncu it prints the tuned configs and times.
"""

from __future__ import annotations

import argparse

import torch
from bench_kernels import bench, kernel_of, ty


def conv_case(c: int, h: int, k: int) -> tuple[str, dict[str, torch.Tensor], object]:
    x = torch.randn(32, c, h, h, device="cuda", dtype=torch.float16)
    w = torch.randn(k, c, 3, 3, device="cuda", dtype=torch.float16) / 30
    xs, ws, ys = (32, h, h, c), (k, 3, 3, c), (32, h, h, k)
    text = f"""func.func @main(%x: {ty(xs)}, %w: {ty(ws)}) -> {ty(ys)} attributes {{input_names = ["x", "w"], output_names = ["y"]}} {{
  %y = nn.conv %x, %w {{strides = [1, 1], pads = [1, 1, 1, 1], dilations = [1, 1], layout = "NHWC"}} : ({ty(xs)}, {ty(ws)}) -> {ty(ys)}
  func.return %y : {ty(ys)}
}}"""
    xc, wc = x.to(memory_format=torch.channels_last), w.to(memory_format=torch.channels_last)
    inputs = {"x": x.permute(0, 2, 3, 1).contiguous(), "w": w.permute(0, 2, 3, 1).contiguous()}
    return text, inputs, lambda: torch.nn.functional.conv2d(xc, wc, padding=1)


def attention_case(sq: int) -> tuple[str, dict[str, torch.Tensor], object]:
    q, kk, v = (torch.randn(32, 12, sq, 64, device="cuda", dtype=torch.float16) for _ in range(3))
    t4 = ty((32, 12, sq, 64))
    text = f"""func.func @main(%q: {t4}, %k: {t4}, %v: {t4}) -> {t4} attributes {{input_names = ["q", "k", "v"], output_names = ["y"]}} {{
  %y, %pk, %pv, %qk = nn.attention %q, %k, %v {{is_causal = false}} : ({t4}, {t4}, {t4}) -> ({t4}, {t4}, {t4}, {ty((32, 12, sq, sq))})
  func.return %y : {t4}
}}"""
    sdpa = torch.nn.functional.scaled_dot_product_attention
    return text, {"q": q, "k": kk, "v": v}, lambda: sdpa(q, kk, v)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="conv,attention")
    only = set(ap.parse_args().only.split(","))
    cases = []
    if "conv" in only:
        cases += [
            (f"conv 3x3 {c}ch {h}x{h}", *conv_case(c, h, c)) for c, h in ((128, 28), (256, 14), (64, 56))
        ]
    if "attention" in only:
        cases += [("attention seq512", *attention_case(512))]
    for label, text, inputs, peer in cases:
        step, run = kernel_of(text, inputs)
        print(f"{label}: ours {bench(run):.4f} ms {step.config}, torch {bench(peer):.4f} ms", flush=True)
        torch.cuda.synchronize()
        torch.cuda.nvtx.range_push("prof")
        for _ in range(2):
            run()
            peer()
        torch.cuda.synchronize()
        torch.cuda.nvtx.range_pop()


if __name__ == "__main__":
    main()
