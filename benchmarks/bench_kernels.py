"""Each kernel template against torch on the same card (issue 5's targets).

    python benchmarks/bench_kernels.py [--only gemm,conv,attention,bandwidth,int8]

GEMM (4096^3 and BERT-base shapes at batch 32), the ResNet-50 3x3 and 1x1 convolutions at batch 32
(torch: cuDNN, channels-last), fused attention at sequence 128 and 512 (torch: SDPA), and
elementwise/reduction kernels on 64 MB tensors (against the measured copy bandwidth); INT8 GEMMs and a
convolution with a dequantizing epilogue (against torch._int_mm, cuBLASLt's int8 GEMM, and FP16).
ALL_CONFIGS=1 also prints every convolution and attention candidate's time; REGISTER_CAPS=1 times each chosen GEMM,
convolution and attention config again under register caps (``maxnreg``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

import tritium as tr
import tritium.ir as ir

LOG = Path(os.environ.get("OUT", ".")) / "bench_kernels.jsonl"


def record(row: dict[str, Any]) -> None:
    print(json.dumps(row), flush=True)
    with open(LOG, "a") as f:
        f.write(json.dumps(row) + "\n")


def bench(fn: Any) -> float:
    """GPU time in ms, calls replayed from a CUDA graph (as engines run them): launching from Python
    takes longer than many of these kernels run, and would time the host instead."""
    from tritium.codegen.tuning import bench_ms

    return bench_ms(fn, replays=21)


def ty(shape: tuple[int, ...], dt: str = "f16") -> str:
    return "tensor<" + "".join(f"{d}x" for d in shape) + dt + ">"


class Without:
    """An algorithm selector keeping the candidates whose config lacks ``flag``."""

    def __init__(self, flag: str) -> None:
        self.flag = flag

    def select_algorithms(self, context: Any, choices: list[Any]) -> list[int]:
        return [c.tactic for c in choices if not c.config.get(self.flag)]


def kernel_of(
    text: str, inputs: dict[str, torch.Tensor], level: int = 2, selector: Any = None
) -> tuple[Any, Any]:
    """The engine's one generated kernel for ``text``, tuned on these inputs (generated candidates
    only: the library tactics are what it is compared with), and its launcher."""
    from tritium.codegen.tuning import TimingCache, Tuner

    engine = tr.compile(ir.parse_ir(text), device="cuda", opt_level=level, tactic_sources=())
    shapes = {k: tuple(v.shape) for k, v in inputs.items()}
    engine.tune(shapes, Tuner(TimingCache(), level=3, library=frozenset(), selector=selector))
    prog = engine.program(shapes)
    by_arg = dict(zip(prog.func.args, (inputs[n] for n in engine.input_names)))
    for s in prog.steps:  # strided views (a transposed weight) as the engine makes them
        if s.mode == "strided":
            by_arg[s.outputs[0]] = s.kernel(by_arg[s.inputs[0]])[0]
    step = next(s for s in prog.steps if s.mode == "kernel")
    ins = [by_arg[v] for v in step.inputs]
    from tritium.runtime.program import torch_dtype

    outs = [
        torch.empty(tuple(v.type.shape), dtype=torch_dtype(v.type.dtype), device="cuda") for v in step.outputs
    ]
    return step, (lambda config=None: step.kernel(ins, outs, config or step.config))


def cap_sweep(label: str, config: dict[str, Any], run: Any) -> None:
    """With REGISTER_CAPS=1: the chosen config again under each register cap that would let one more
    program share an SM (65536 registers over programs x 32 x warps threads, in steps of 8)."""
    if not os.environ.get("REGISTER_CAPS") or config.get("LIBRARY"):
        return
    threads = 32 * config["num_warps"]
    caps = sorted({min(255, 65536 // (occ * threads) // 8 * 8) for occ in (1, 2, 3, 4)} - {0}, reverse=True)
    base = {k: v for k, v in config.items() if k != "maxnreg"}
    for cap in [None, *[c for c in caps if c >= 64]]:
        cfg = base | ({"maxnreg": cap} if cap else {})
        try:
            print(f"  {label}: cap {cap}: {bench(lambda cfg=cfg: run(cfg)):.4f} ms {cfg}", flush=True)
        except Exception as e:  # a cap the compiler rejects: reported
            print(f"  {label}: cap {cap}: failed {str(e).splitlines()[0][:100]}", flush=True)


def all_configs(label: str, step: Any, run: Any) -> None:
    """With ALL_CONFIGS=1: every level-3 candidate's time, fastest first."""
    times = []
    for c in step.kernel.config_space(3):
        try:
            times.append((bench(lambda c=c: run(c)), c))
        except Exception as e:  # a candidate that fails to compile or launch: reported
            print(f"  {label}: failed {str(e).splitlines()[0][:100]} {c}", flush=True)
    for ms, c in sorted(times, key=lambda t: t[0]):
        print(f"  {label}: {ms:.4f} ms {c}", flush=True)


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="gemm,conv,attention,bandwidth,int8,fp8")
    only = set(ap.parse_args().only.split(","))
    rows: list[dict[str, Any]] = []
    dev = "cuda"
    parts = (
        ("gemm", gemm),
        ("conv", conv),
        ("attention", attention),
        ("bandwidth", bandwidth),
        ("int8", int8),
        ("fp8", fp8),
    )
    for name, part in parts:
        if name in only:
            part(rows, dev)
    out = Path(os.environ.get("OUT", ".")) / "bench_kernels.json"
    out.write_text(json.dumps({"card": torch.cuda.get_device_name(), "rows": rows}, indent=1))


def gemm(rows: list[dict[str, Any]], dev: str) -> None:
    for m, k, n, label in [
        (4096, 4096, 4096, "4096^3"),
        (32 * 128, 768, 768, "bert qkv/out 4096x768x768"),
        (32 * 128, 768, 3072, "bert ffn1 4096x768x3072"),
        (32 * 128, 3072, 768, "bert ffn2 4096x3072x768"),
        (32 * 197, 768, 3072, "vit ffn1 6304x768x3072"),
        (32 * 128, 768, 50257, "gpt2 lm head 4096x768x50257, K-major weight"),
    ]:
        kmajor = "K-major" in label  # a tied embedding: the [vocab, hidden] table read transposed
        b_in = ty((n, k) if kmajor else (k, n))
        b_op = f"nn.transpose %b {{perm = [1, 0]}} : ({b_in}) -> {ty((k, n))}" if kmajor else ""
        text = f"""func.func @main(%a: {ty((m, k))}, %b: {b_in}) -> {ty((m, n))} attributes {{input_names = ["a", "b"], output_names = ["y"]}} {{
  {"%bt = " + b_op if kmajor else ""}
  %y = nn.matmul %a, {"%bt" if kmajor else "%b"} : ({ty((m, k))}, {ty((k, n))}) -> {ty((m, n))}
  func.return %y : {ty((m, n))}
}}"""
        a = torch.randn(m, k, device=dev, dtype=torch.float16)
        b_t = torch.randn(*((n, k) if kmajor else (k, n)), device=dev, dtype=torch.float16)
        b = b_t.t() if kmajor else b_t
        step, run = kernel_of(text, {"a": a, "b": b_t})
        t_ours, t_torch = bench(run), bench(lambda: a @ b)
        cap_sweep(label, step.config, run)
        _, run_flat = kernel_of(text, {"a": a, "b": b_t}, selector=Without("PERSISTENT"))
        t_flat = bench(run_flat)  # the best one-tile-per-program candidate, for the persistent's gain
        rows.append(
            {
                "kernel": f"gemm {label}",
                "tritium_ms": t_ours,
                "torch_ms": t_torch,
                "tflops": 2 * m * n * k / (t_ours * 1e9),
                "torch_tflops": 2 * m * n * k / (t_torch * 1e9),
                "ratio": t_torch / t_ours,
                "config": step.config,
                "tritium_not_persistent_ms": t_flat,
            }
        )
        record(rows[-1])


STEMS = {  # the stems' space-to-depth convolutions (convert-layout) -> (C, H, R, stride, pad) of the original
    "stem s2d 4x4 16ch 115x115 (resnet50)": (3, 224, 7, 2, 3),
    "stem s2d 2x2 16ch 113x113 (mobilenetv2)": (3, 224, 3, 2, 1),
}


def conv(rows: list[dict[str, Any]], dev: str) -> None:
    """ResNet-50 convolutions at batch 32 (torch: cuDNN, channels-last), and the unpadded stride-1
    convolutions that ResNet-50's and MobileNetV2's stems become (torch: cuDNN on the original stem,
    so the row compares what each runs for that layer, less our pad and transpose before it)."""
    for c, h, kk, r, s, stride, label in [
        (64, 56, 64, 3, 3, 1, "3x3 64ch 56x56"),
        (256, 56, 64, 1, 1, 1, "1x1 256->64 56x56"),
        (512, 28, 128, 1, 1, 1, "1x1 512->128 28x28"),
        (128, 28, 128, 3, 3, 1, "3x3 128ch 28x28"),
        (256, 14, 256, 3, 3, 1, "3x3 256ch 14x14"),
        (512, 7, 512, 3, 3, 1, "3x3 512ch 7x7"),
        (16, 115, 64, 4, 4, 1, "stem s2d 4x4 16ch 115x115 (resnet50)"),
        (16, 113, 32, 2, 2, 1, "stem s2d 2x2 16ch 113x113 (mobilenetv2)"),
    ]:
        p = 0 if label in STEMS else r // 2
        oh = (h + 2 * p - r) // stride + 1
        # Tritium runs convolutions channels-last (the convert-layout pass): the NHWC kernel, and for
        # 1x1 unit-stride convolutions the GEMM template on the pixels (what the pass makes of them).
        x = torch.randn(32, c, h, h, device=dev, dtype=torch.float16)
        w = torch.randn(kk, c, r, s, device=dev, dtype=torch.float16) / 30
        xs, ys = (32, h, h, c), (32, oh, oh, kk)
        if r == s == 1 and stride == 1:
            ws = (c, kk)
            op = f"nn.matmul %x, %w : ({ty(xs)}, {ty(ws)}) -> {ty(ys)}"
            wt = w[:, :, 0, 0].t().contiguous()
        else:
            ws = (kk, r, s, c)
            op = (
                f'nn.conv %x, %w {{strides = [{stride}, {stride}], pads = [{p}, {p}, {p}, {p}], dilations = [1, 1], layout = "NHWC"}}'
                f" : ({ty(xs)}, {ty(ws)}) -> {ty(ys)}"
            )
            wt = w.permute(0, 2, 3, 1).contiguous()
        text = f"""func.func @main(%x: {ty(xs)}, %w: {ty(ws)}) -> {ty(ys)} attributes {{input_names = ["x", "w"], output_names = ["y"]}} {{
  %y = {op}
  func.return %y : {ty(ys)}
}}"""
        step, run = kernel_of(text, {"x": x.permute(0, 2, 3, 1).contiguous(), "w": wt})
        xc, wc = x.to(memory_format=torch.channels_last), w.to(memory_format=torch.channels_last)
        t_ours = bench(run)
        if os.environ.get("ALL_CONFIGS"):
            all_configs(label, step, run)
        cap_sweep(label, step.config, run)
        if label in STEMS:  # cuDNN on the original stem
            c0, h0, r0, s0, p0 = STEMS[label]
            xc = torch.randn(32, c0, h0, h0, device=dev, dtype=torch.float16).to(
                memory_format=torch.channels_last
            )
            wc = (torch.randn(kk, c0, r0, r0, device=dev, dtype=torch.float16) / 30).to(
                memory_format=torch.channels_last
            )
            p, stride = p0, s0
        t_torch = bench(lambda: torch.nn.functional.conv2d(xc, wc, padding=p, stride=stride))
        flops = 2 * 32 * kk * oh * oh * c * r * s
        if label in STEMS:  # the original stem's work, not the space-to-depth form's zero taps
            flops = 2 * 32 * kk * oh * oh * STEMS[label][0] * STEMS[label][2] ** 2
        rows.append(
            {
                "kernel": f"conv {label} b32",
                "tritium_ms": t_ours,
                "torch_ms": t_torch,
                "ratio": t_torch / t_ours,
                "tflops": flops / (t_ours * 1e9),
                "config": step.config,
            }
        )
        record(rows[-1])


def attention(rows: list[dict[str, Any]], dev: str) -> None:
    """Batch 32, 12 heads of 64: plain at sequence 128 and 512 (the issue's targets), and the forms
    the models run: ViT-B/16's 197 tokens, GPT-2's causal prefill, BERT's padding mask (one additive
    row of keys per batch element, HF's float32-lowest for masked keys), and causal at 512. Then heads
    of 128 (6 of them, the same width), plain and causal at sequence 512."""
    for sq, mask, causal, d, label in [
        (128, False, False, 64, "seq128"),
        (512, False, False, 64, "seq512"),
        (512, False, True, 64, "seq512 causal"),
        (197, False, False, 64, "seq197 (vit)"),
        (128, False, True, 64, "seq128 causal (gpt2)"),
        (128, True, False, 64, "seq128 key mask (bert)"),
        (512, False, False, 128, "seq512"),
        (512, False, True, 128, "seq512 causal"),
    ]:
        bsz, hh = 32, 768 // d
        q, k, v = (torch.randn(bsz, hh, sq, d, device=dev, dtype=torch.float16) for _ in range(3))
        t4, tm = ty((bsz, hh, sq, d)), ty((bsz, 1, 1, sq))
        m = torch.zeros(bsz, 1, 1, sq, device=dev, dtype=torch.float16)
        m[:, :, :, sq - sq // 8 :] = torch.finfo(torch.float16).min  # the last eighth is padding
        text = f"""func.func @main(%q: {t4}, %k: {t4}, %v: {t4}{f", %m: {tm}" if mask else ""}) -> {t4} attributes {{input_names = ["q", "k", "v"{', "m"' if mask else ""}], output_names = ["y"]}} {{
  %y, %pk, %pv, %qk = nn.attention %q, %k, %v{", %m" if mask else ""} {{is_causal = {str(causal).lower()}}} : ({t4}, {t4}, {t4}{f", {tm}" if mask else ""}) -> ({t4}, {t4}, {t4}, {ty((bsz, hh, sq, sq))})
  func.return %y : {t4}
}}"""
        step, run = kernel_of(text, {"q": q, "k": k, "v": v, **({"m": m} if mask else {})})
        t_ours = bench(run)
        if os.environ.get("ALL_CONFIGS"):
            all_configs(f"d{d} {label}", step, run)
        cap_sweep(f"d{d} {label}", step.config, run)
        sdpa = torch.nn.functional.scaled_dot_product_attention
        t_torch = bench(lambda: sdpa(q, k, v, attn_mask=m if mask else None, is_causal=causal))
        rows.append(
            {
                "kernel": f"attention b32 h{hh} d{d} {label}",
                "tritium_ms": t_ours,
                "torch_ms": t_torch,
                "ratio": t_torch / t_ours,
                "config": step.config,
            }
        )
        record(rows[-1])


def bandwidth(rows: list[dict[str, Any]], dev: str) -> None:
    """Elementwise and reduction kernels on 64 MB, against the measured copy bandwidth."""
    x = torch.empty(256 * 1024 * 1024 // 4, device=dev, dtype=torch.float32)
    y = torch.empty_like(x)
    copy_gbs = 2 * x.numel() * 4 / (bench(lambda: y.copy_(x)) * 1e6)
    n = 64 * 1024 * 1024 // 2  # 64 MB of f16
    for label, body, nbytes in [
        ("add+relu 64MB f16", "%s = nn.add %a, %b : {t}\n  %y = nn.relu %s : {t}", 3 * n * 2),
        ("softmax rows of 4096, 64MB f16", "%y = nn.softmax %a {{axis = -1}} : {t}", 2 * n * 2),
    ]:
        shape = (n // 4096, 4096)
        t = ty(shape)
        text = f"""func.func @main(%a: {t}, %b: {t}) -> {t} attributes {{input_names = ["a", "b"], output_names = ["y"]}} {{
  {body.format(t=t)}
  func.return %y : {t}
}}"""
        a, b = (torch.randn(shape, device=dev, dtype=torch.float16) for _ in range(2))
        step, run = kernel_of(text, {"a": a, "b": b})
        ms = bench(run)
        rows.append(
            {
                "kernel": label,
                "tritium_ms": ms,
                "gbs": nbytes / (ms * 1e6),
                "copy_gbs": copy_gbs,
                "fraction_of_copy": nbytes / (ms * 1e6) / copy_gbs,
                "config": step.config,
            }
        )
        record(rows[-1])


def int8(rows: list[dict[str, Any]], dev: str) -> None:
    """i8 x i8 products accumulated in int32, dequantized to f16 in the epilogue (what lower-quant
    makes of a QDQ model), against torch._int_mm (int32 result, no epilogue) and an f16 GEMM."""
    for m, k, n, label in [
        (4096, 4096, 4096, "4096^3"),
        (32 * 128, 768, 3072, "bert ffn1 4096x768x3072"),
        (32 * 128, 3072, 768, "bert ffn2 4096x3072x768"),
        (32 * 197, 768, 3072, "vit ffn1 6304x768x3072"),
    ]:
        ti, to = ty((m, n), "i32"), ty((m, n), "f32")
        text = f"""func.func @main(%a: {ty((m, k), "i8")}, %b: {ty((k, n), "i8")}) -> {ty((m, n))} attributes {{input_names = ["a", "b"], output_names = ["y"]}} {{
  %p = nn.matmul_integer %a, %b : ({ty((m, k), "i8")}, {ty((k, n), "i8")}) -> {ti}
  %f = nn.cast %p {{to = f32}} : ({ti}) -> {to}
  %s = nn.constant dense<0.001> : tensor<f32>
  %d = nn.mul %f, %s : ({to}, tensor<f32>) -> {to}
  %y = nn.cast %d {{to = f16}} : ({to}) -> {ty((m, n))}
  func.return %y : {ty((m, n))}
}}"""
        a = torch.randint(-128, 128, (m, k), device=dev, dtype=torch.int8)
        # K-major, as engines hold int8 weights (Hopper's int8 tensor cores read 8-bit operands so)
        b = torch.randint(-128, 128, (n, k), device=dev, dtype=torch.int8).t()
        step, run = kernel_of(text, {"a": a, "b": b})
        out = torch.empty(m, n, device=dev, dtype=torch.float16)
        step.kernel([a, b], [out], step.config)
        exact = torch._int_mm(a, b)
        err = float(((out.float() - exact.float() * 0.001).abs() / (exact.float().abs() * 0.001 + 1)).max())
        ah, bh = a.half(), b.half()
        t_ours, t_int, t_half = bench(run), bench(lambda: torch._int_mm(a, b)), bench(lambda: ah @ bh)
        rows.append(
            {
                "kernel": f"int8 gemm {label}",
                "tritium_ms": t_ours,
                "int_mm_ms": t_int,
                "fp16_cublas_ms": t_half,
                "tops": 2 * m * n * k / (t_ours * 1e9),
                "ratio_vs_int_mm": t_int / t_ours,
                "ratio_vs_fp16": t_half / t_ours,
                "max_rel_err_vs_int_mm": err,
                "config": step.config,
            }
        )
        record(rows[-1])
    # ResNet-50's 1x1 convolutions as int8 GEMMs over the pixels (short K, narrow N), K-major weights
    # seen as such by tuning, with the dequantizing epilogue and with the requantizing one a QDQ
    # model gives them (per-channel scale, quantize: divide, round half to even, clip, to int8).
    for m, k, n, label in [(32 * 56 * 56, 64, 256, "layer1 conv3"), (32 * 28 * 28, 512, 128, "layer2 conv1")]:
        ti, to, tq = ty((m, n), "i32"), ty((m, n), "f32"), ty((m, n), "i8")
        for requant in (False, True):
            tail = (
                f"""  %q = nn.div %d, %t {{precision = "f32"}} : ({to}, tensor<f32>) -> {to}
  %r = nn.round %q {{precision = "f32"}} : {to}
  %lo = nn.constant dense<-128.0> : tensor<f32>
  %hi = nn.constant dense<127.0> : tensor<f32>
  %c = nn.clip %r, %lo, %hi {{precision = "f32"}} : ({to}, tensor<f32>, tensor<f32>) -> {to}
  %y = nn.cast %c {{to = i8}} : ({to}) -> {tq}
  func.return %y : {tq}"""
                if requant
                else f"""  %y = nn.cast %d {{to = f16}} : ({to}) -> {ty((m, n))}
  func.return %y : {ty((m, n))}"""
            )
            text = f"""func.func @main(%a: {ty((m, k), "i8")}, %w: {ty((n, k), "i8")}, %s: {ty((n,), "f32")}) -> {tq if requant else ty((m, n))} attributes {{input_names = ["a", "w", "s"], output_names = ["y"]}} {{
  %b = nn.transpose %w {{perm = [1, 0]}} : ({ty((n, k), "i8")}) -> {ty((k, n), "i8")}
  %p = nn.matmul_integer %a, %b : ({ty((m, k), "i8")}, {ty((k, n), "i8")}) -> {ti}
  %f = nn.cast %p {{to = f32}} : ({ti}) -> {to}
  %d = nn.mul %f, %s : ({to}, {ty((n,), "f32")}) -> {to}
  %t = nn.constant dense<0.05> : tensor<f32>
{tail}
}}"""
            a = torch.randint(-128, 128, (m, k), device=dev, dtype=torch.int8)
            w = torch.randint(-128, 128, (n, k), device=dev, dtype=torch.int8)
            sc = torch.rand(n, device=dev) * 1e-3
            step, run = kernel_of(text, {"a": a, "w": w, "s": sc})
            ah, bh = a.half(), w.half().t()
            t_ours, t_half = bench(run), bench(lambda: ah @ bh)
            rows.append(
                {
                    "kernel": f"int8 gemm resnet50 {label} {m}x{k}x{n}, {'requantizing' if requant else 'dequantizing'} epilogue",
                    "tritium_ms": t_ours,
                    "fp16_cublas_ms": t_half,
                    "tops": 2 * m * n * k / (t_ours * 1e9),
                    "ratio_vs_fp16": t_half / t_ours,
                    "config": step.config,
                }
            )
            record(rows[-1])
    # A ResNet-50 3x3 convolution in int8, channels-last (what convert-layout makes of a QDQ
    # model's), against cuDNN in f16 channels-last.
    c, h, kk = 64, 56, 64
    xs, ws, ys = (32, h, h, c), (kk, 3, 3, c), (32, h, h, kk)
    text = f"""func.func @main(%x: {ty(xs, "i8")}, %w: {ty(ws, "i8")}) -> {ty(ys)} attributes {{input_names = ["x", "w"], output_names = ["y"]}} {{
  %p = nn.conv_integer %x, %w {{strides = [1, 1], pads = [1, 1, 1, 1], dilations = [1, 1], layout = "NHWC"}} : ({ty(xs, "i8")}, {ty(ws, "i8")}) -> {ty(ys, "i32")}
  %f = nn.cast %p {{to = f32}} : ({ty(ys, "i32")}) -> {ty(ys, "f32")}
  %s = nn.constant dense<0.001> : tensor<f32>
  %d = nn.mul %f, %s : ({ty(ys, "f32")}, tensor<f32>) -> {ty(ys, "f32")}
  %y = nn.cast %d {{to = f16}} : ({ty(ys, "f32")}) -> {ty(ys)}
  func.return %y : {ty(ys)}
}}"""
    x = torch.randint(-128, 128, xs, device=dev, dtype=torch.int8)
    w = torch.randint(-128, 128, ws, device=dev, dtype=torch.int8)
    step, run = kernel_of(text, {"x": x, "w": w})
    xh = x.permute(0, 3, 1, 2).half()  # NCHW views of the channels-last tensors
    wh = w.permute(0, 3, 1, 2).half() / 30
    t_ours = bench(run)
    t_torch = bench(lambda: torch.nn.functional.conv2d(xh, wh, padding=1))
    rows.append(
        {
            "kernel": "int8 conv 3x3 64ch 56x56 b32 (NHWC)",
            "tritium_ms": t_ours,
            "fp16_cudnn_ms": t_torch,
            "ratio_vs_fp16": t_torch / t_ours,
            "tops": 2 * 32 * kk * h * h * c * 9 / (t_ours * 1e9),
            "config": step.config,
        }
    )
    record(rows[-1])


def fp8(rows: list[dict[str, Any]], dev: str) -> None:
    """e4m3 x e4m3 products with f32 sums, scaled and cast to f16 in the epilogue (what lower-quant
    makes of a float 8 QDQ model), against cuBLASLt's FP8 GEMM (torch._scaled_mm scaling to f16
    itself; precise and fast accumulation) and an f16 GEMM. Weights K-major, as engines hold them."""
    for m, k, n, label in [
        (4096, 4096, 4096, "4096^3"),
        (32 * 128, 768, 2304, "bert qkv 4096x768x2304"),
        (32 * 128, 768, 3072, "bert ffn1 4096x768x3072"),
        (32 * 128, 3072, 768, "bert ffn2 4096x3072x768"),
    ]:
        to = ty((m, n), "f32")
        text = f"""func.func @main(%a: {ty((m, k), "f8E4M3FN")}, %b: {ty((k, n), "f8E4M3FN")}) -> {ty((m, n))} attributes {{input_names = ["a", "b"], output_names = ["y"]}} {{
  %p = nn.matmul_float8 %a, %b : ({ty((m, k), "f8E4M3FN")}, {ty((k, n), "f8E4M3FN")}) -> {to}
  %s = nn.constant dense<0.001> : tensor<f32>
  %d = nn.mul %p, %s : ({to}, tensor<f32>) -> {to}
  %y = nn.cast %d {{to = f16}} : ({to}) -> {ty((m, n))}
  func.return %y : {ty((m, n))}
}}"""
        a = (torch.randn(m, k, device=dev) * 16).to(torch.float8_e4m3fn)
        b = (torch.randn(n, k, device=dev) * 16).to(torch.float8_e4m3fn).t()
        step, run = kernel_of(text, {"a": a, "b": b})
        out = torch.empty(m, n, device=dev, dtype=torch.float16)
        step.kernel([a, b], [out], step.config)
        exact = (a.double() @ b.double()) * 0.001
        err = float((out.double() - exact).norm() / exact.norm())
        scale = torch.full((), 0.001, device=dev)
        one = torch.ones((), device=dev)

        def scaled(fast: bool) -> Any:
            return lambda: torch._scaled_mm(
                a, b, scale_a=scale, scale_b=one, out_dtype=torch.float16, use_fast_accum=fast
            )

        lib = scaled(False)()
        lib_err = float((lib.double() - exact).norm() / exact.norm())
        ah, bh = a.half(), b.half()
        t_ours, t_lib, t_fast = bench(run), bench(scaled(False)), bench(scaled(True))
        t_half = bench(lambda: ah @ bh)
        rows.append(
            {
                "kernel": f"fp8 gemm {label}",
                "tritium_ms": t_ours,
                "scaled_mm_ms": t_lib,
                "scaled_mm_fast_accum_ms": t_fast,
                "fp16_cublas_ms": t_half,
                "tflops": 2 * m * n * k / (t_ours * 1e9),
                "ratio_vs_scaled_mm": t_lib / t_ours,
                "ratio_vs_scaled_mm_fast": t_fast / t_ours,
                "ratio_vs_fp16": t_half / t_ours,
                "rel_err": err,
                "scaled_mm_rel_err": lib_err,
                "config": step.config,
            }
        )
        record(rows[-1])
    # ResNet-50's 3x3 convolutions in float 8, channels-last (what convert-layout makes of a float 8
    # QDQ model's), against cuDNN in f16 channels-last
    for c, h in ((64, 56), (128, 28), (256, 14)):
        xs, ws, ys = (32, h, h, c), (c, 3, 3, c), (32, h, h, c)
        text = f"""func.func @main(%x: {ty(xs, "f8E4M3FN")}, %w: {ty(ws, "f8E4M3FN")}) -> {ty(ys)} attributes {{input_names = ["x", "w"], output_names = ["y"]}} {{
  %p = nn.conv_float8 %x, %w {{strides = [1, 1], pads = [1, 1, 1, 1], dilations = [1, 1], layout = "NHWC"}} : ({ty(xs, "f8E4M3FN")}, {ty(ws, "f8E4M3FN")}) -> {ty(ys, "f32")}
  %s = nn.constant dense<0.001> : tensor<f32>
  %d = nn.mul %p, %s : ({ty(ys, "f32")}, tensor<f32>) -> {ty(ys, "f32")}
  %y = nn.cast %d {{to = f16}} : ({ty(ys, "f32")}) -> {ty(ys)}
  func.return %y : {ty(ys)}
}}"""
        x = torch.randn(xs, device=dev).to(torch.float8_e4m3fn)
        w = torch.randn(ws, device=dev).to(torch.float8_e4m3fn)
        step, run = kernel_of(text, {"x": x, "w": w})
        xh = x.half().permute(0, 3, 1, 2)  # NCHW views of the channels-last tensors
        wh = w.half().permute(0, 3, 1, 2)
        t_ours, t_torch = bench(run), bench(lambda: torch.nn.functional.conv2d(xh, wh, padding=1))
        rows.append(
            {
                "kernel": f"fp8 conv 3x3 {c}ch {h}x{h} b32 (NHWC)",
                "tritium_ms": t_ours,
                "fp16_cudnn_ms": t_torch,
                "ratio_vs_fp16": t_torch / t_ours,
                "tflops": 2 * 32 * c * h * h * c * 9 / (t_ours * 1e9),
                "config": step.config,
            }
        )
        record(rows[-1])


if __name__ == "__main__":
    main()
