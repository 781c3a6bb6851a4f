"""Every tile config of one fused GEMM, timed on the GPU: which configs hide an epilogue's cost.

    python benchmarks/gemm_configs.py [--shape 4096,768,3072] [--epilogues none,gelu] [--top 12] [--kmajor]
                                      [--space N] [--streamk N]

For each epilogue (none: the bare product; bias; gelu: + bias, GELU(erf); residual: + bias +
residual) the script generates Tritium's GEMM kernel, times each candidate of its level-3 tuning
space plus the two-blocks-per-SM tiles (128 x 128 at 2 stages with a TMA store: 96 KB of shared
memory each) with ``bench_ms`` (CUDA-graph replays, as tuning does), and prints the fastest with
their time over the bare product's best: what the epilogue costs with each config. Writes
$OUT/gemm_configs.json.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

import tritium.ir as ir
from tritium.codegen import kernel_for
from tritium.codegen.gemm_forms import store_by_tma
from tritium.codegen.tuning import bench_ms
from tritium.passes import PassManager

EPILOGUES = {
    "none": "",
    "bias": "%z = nn.add %y, %c : ({o}, {c}) -> {o}",
    "gelu": "%t = nn.add %y, %c : ({o}, {c}) -> {o}\n  %z = nn.gelu %t : {o}",
    "residual": "%t = nn.add %y, %c : ({o}, {c}) -> {o}\n  %z = nn.add %t, %r : ({o}, {o}) -> {o}",
}


def ty(shape: tuple[int, ...]) -> str:
    return "tensor<" + "".join(f"{d}x" for d in shape) + "f16>"


def reference(epilogue: str, a, b, c, r):
    """The fused kernel's result in float32 by torch."""
    y = a.float() @ b.float()
    if epilogue == "none":
        return y
    y = y + c.float()
    if epilogue == "gelu":
        return torch.nn.functional.gelu(y)
    return y + r.float() if epilogue == "residual" else y


def kernel(m: int, k: int, n: int, epilogue: str, kmajor: bool = False):
    o, c = ty((m, n)), ty((n,))
    body = EPILOGUES[epilogue].format(o=o, c=c)
    result = "%z" if body else "%y"
    text = f"""func.func @main(%a: {ty((m, k))}, %b: {ty((k, n))}, %c: {c}, %r: {o}) -> {o} {{
  %y = nn.matmul %a, %b : ({ty((m, k))}, {ty((k, n))}) -> {o}
  {body}
  func.return {result} : {o}
}}"""
    module = ir.parse_ir(text)
    PassManager("fuse-kernels,dce").run(module)
    fused = next(op for op in module.main.block.ops if op.name == "kernel.fused")
    tensors = {
        "a": torch.randn(m, k, device="cuda", dtype=torch.float16) / 4,
        "b": (
            torch.randn(n, k, device="cuda", dtype=torch.float16).t()
            if kmajor
            else torch.randn(k, n, device="cuda", dtype=torch.float16)
        )
        / 4,
        "c": torch.randn(n, device="cuda", dtype=torch.float16),
        "r": torch.randn(m, n, device="cuda", dtype=torch.float16),
    }
    by_arg = dict(zip(module.main.args, tensors.values()))
    return kernel_for(fused), [by_arg[v] for v in fused.operands], tensors


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", default="4096,768,3072", help="M,K,N")
    ap.add_argument("--epilogues", default="none,gelu")
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--kmajor", action="store_true", help="the weight held transposed (a tied embedding)")
    ap.add_argument("--space", type=int, default=0, help="only the first N configs of the space (0: all)")
    ap.add_argument("--streamk", type=int, default=0, help="also the stream-K form of the first N tiles")
    args = ap.parse_args()
    m, k, n = (int(x) for x in args.shape.split(","))
    two_per_sm = [
        {
            "BLOCK_M": 128,
            "BLOCK_N": 128,
            "BLOCK_K": 64,
            "GROUP_M": 8,
            "num_warps": w,
            "num_stages": 2,
            "TMA": 1,
        }
        | extra
        for w in (4, 8)
        for extra in ({}, {"PERSISTENT": 1})
    ]
    results: dict[str, list] = {}
    for epi in args.epilogues.split(","):
        kern, inputs, tensors = kernel(m, k, n, epi, args.kmajor)
        out = torch.empty(m, n, device="cuda", dtype=torch.float16)
        space = [c for c in kern.config_space(3) if not c.get("LIBRARY")][: args.space or None]
        space += [
            c
            for c in (store_by_tma(c, kern.fused, kern.dtype.itemsize) for c in two_per_sm)
            if c not in space
        ]
        whole = [
            c
            for c in space
            if c.get("TMA") and not (c.get("PERSISTENT") or c.get("SPLIT") or c.get("STREAMK"))
        ]
        streamk = [
            store_by_tma(
                {**{k: v for k, v in c.items() if k != "TMA_STORE"}, "STREAMK": 1},
                kern.fused,
                kern.dtype.itemsize,
            )
            for c in whole[: args.streamk]
        ]
        space += [c for c in streamk if c not in space]
        want = reference(epi, **tensors)
        rows = []
        for cfg in space:
            try:
                out.fill_(float("nan"))
                kern(inputs, [out], cfg)
                err = float((out.float() - want).abs().max() / want.abs().max())
                if not err < 1e-2:
                    print(epi, cfg, f"WRONG: max error {err:.3g} of the largest value", flush=True)
                    continue
                ms = bench_ms(lambda cfg=cfg: kern(inputs, [out], cfg))
            except Exception as e:  # a config this card or Triton cannot build: reported, not timed
                print(epi, cfg, "failed:", str(e).split("\n")[0][:120], flush=True)
                continue
            rows.append((ms, cfg))
        rows.sort(key=lambda r: r[0])
        results[epi] = rows
    base = results["none"][0][0] if results.get("none") else None
    for epi, rows in results.items():
        print(f"== {epi} ({m} x {k} x {n}); {len(rows)} configs")
        for ms, cfg in rows[: args.top]:
            over = f" (+{(ms - base) * 1000:.1f} us over the bare best)" if base else ""
            print(f"  {ms:.4f} ms{over}  {cfg}")
    a, b = (
        torch.randn(m, k, device="cuda", dtype=torch.float16),
        torch.randn(k, n, device="cuda", dtype=torch.float16),
    )
    print(f"torch.matmul {bench_ms(lambda: a @ b):.4f} ms")
    path = Path(os.environ.get("OUT", ".")) / "gemm_configs.json"
    path.write_text(json.dumps({e: [[ms, c] for ms, c in r] for e, r in results.items()}, indent=1))


if __name__ == "__main__":
    main()
