"""Whole models on the GPU: Tritium (FP16) against PyTorch eager, eager + CUDA graph and
torch.compile, in one process on one card. Writes a JSON of every figure and prints a table.

    python benchmarks/bench_models.py --models resnet50,bert --batches 1,32 --out results.json

Every peer gets its best setting: FP16 weights, channels-last for CNNs, CUDA graphs. Latency is the
median of the end-to-end call with inputs already on the device (CUDA events, Triton's do_bench).
Tritium is timed as TensorRT engines are run: FP16 I/O (narrow_io, as the peers' FP16 models take
and give; --wide-io keeps float32), bound to device buffers, execute_async_v3 (and, for reference,
through run(), which copies inputs in and outputs out).
Correctness is checked in the same run: cosine similarity of Tritium's FP16 output with FP32 torch,
and, for classifiers, top-1 agreement on 100 random inputs.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch


def rerandomize(model: torch.nn.Module, seed: int = 0) -> None:
    """Non-degenerate random weights: BatchNorm statistics, and parameters that initialize to zero
    (torchvision's ViT zero-initializes its head and class token: every output would be 0)."""
    g = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        if p.dim() > 0 and not p.detach().any():
            p.data.copy_(torch.randn(p.shape, generator=g) * 0.02)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


class Hidden(torch.nn.Module):
    """A HF encoder returning its last hidden state (one tensor output)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


class Logits(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def build(name: str) -> tuple[torch.nn.Module, Any, bool]:
    """(fp32 eval model, input maker(batch) -> dict of CPU tensors, is_classifier)."""
    torch.manual_seed(0)
    if name in ("resnet50", "mobilenetv2", "vit"):
        import torchvision

        ctor = {
            "resnet50": torchvision.models.resnet50,
            "mobilenetv2": torchvision.models.mobilenet_v2,
            "vit": torchvision.models.vit_b_16,
        }[name]
        model = ctor(weights=None).eval()
        rerandomize(model)
        return model, lambda b: {"image": torch.randn(b, 3, 224, 224)}, True
    import transformers

    if name == "bert":
        model = Hidden(transformers.BertModel(transformers.BertConfig(attn_implementation="sdpa"))).eval()
    elif name == "gpt2":
        model = Logits(
            transformers.GPT2LMHeadModel(transformers.GPT2Config(attn_implementation="sdpa"))
        ).eval()
    else:
        raise ValueError(name)

    def inputs(b: int) -> dict[str, torch.Tensor]:
        return {
            "input_ids": torch.randint(0, 1000, (b, 128)),
            "attention_mask": torch.ones(b, 128, dtype=torch.int64),
        }

    return model, inputs, False


def export(model: torch.nn.Module, example: dict[str, torch.Tensor], path: Path) -> None:
    torch.onnx.export(
        model,
        tuple(example.values()),
        str(path),
        input_names=list(example),
        output_names=["out"],
        opset_version=17,
        dynamo=False,
    )


def bench(fn: Any) -> float:
    from triton.testing import do_bench

    return float(do_bench(fn, warmup=25, rep=200, return_mode="median"))


def kernel_trace(fn: Any, iters: int = 5, top: int = 30) -> dict[str, Any]:
    """GPU kernels of ``fn`` (CUDA graph replays included) by name: ms and launches per call, from
    the profiler's device activity. Kernel times only, without the gaps between them."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(iters):
            fn()
        torch.cuda.synchronize()
    rows = [
        (e.key[:90], e.self_device_time_total / 1000 / iters, e.count / iters)
        for e in prof.key_averages()
        if e.self_device_time_total > 0
    ]
    rows.sort(key=lambda r: -r[1])
    return {
        "total_ms": round(sum(r[1] for r in rows), 4),
        "launches": round(sum(r[2] for r in rows), 1),
        "top": [(n, round(ms, 4), round(c, 1)) for n, ms, c in rows[:top]],
        "gaps": kernel_gaps(prof, iters),
    }


def kernel_gaps(prof: Any, iters: int, top: int = 12) -> dict[str, Any]:
    """The idle time between one kernel's end and the next one's start on the device, per call, by
    pair of kernel names (the largest first): what launch latency, tails and clock changes cost
    beyond the kernels themselves. Gaps over 50 µs separate calls and are left out."""
    kernels = sorted(
        (e.time_range.start, e.time_range.end, e.name[:40])
        for e in prof.events()
        if e.device_type.name == "CUDA" and e.time_range.end > e.time_range.start
    )
    pairs: dict[tuple[str, str], list[float]] = {}
    for (_, end, a), (start, _, b) in itertools.pairwise(kernels):
        gap = start - end
        if 0 < gap < 50:
            pairs.setdefault((a, b), []).append(gap)
    ranked = sorted(pairs.items(), key=lambda kv: -sum(kv[1]))
    return {
        "total_us": round(sum(sum(g) for g in pairs.values()) / iters, 1),
        "top": [
            (f"{a} -> {b}", round(sum(g) / iters, 1), round(len(g) / iters, 1)) for (a, b), g in ranked[:top]
        ],
    }


def peers(
    model: torch.nn.Module,
    inputs: dict[str, torch.Tensor],
    cnn: bool,
    max_autotune: bool,
    trace: bool = False,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    m = model.half().cuda()
    if cnn:
        m = m.to(memory_format=torch.channels_last)
    args = [v.cuda().half() if v.dtype.is_floating_point else v.cuda() for v in inputs.values()]
    if cnn:
        args = [a.to(memory_format=torch.channels_last) for a in args]
    with torch.inference_mode():
        out["eager"] = bench(lambda: m(*args))
        static = [a.clone() for a in args]
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3):
                m(*static)
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            static_out = m(*static)

        def graphed() -> Any:
            for a, b in zip(static, args):
                a.copy_(b)
            g.replay()
            return static_out

        out["eager+cudagraph"] = bench(graphed)
        modes = ["reduce-overhead"] + (["max-autotune"] if max_autotune else [])
        for mode in modes:
            torch._dynamo.reset()
            t0 = time.perf_counter()
            cm = torch.compile(m, mode=mode)
            for _ in range(3):
                cm(*args)
            torch.cuda.synchronize()
            out[f"compile {mode} build s"] = time.perf_counter() - t0
            out[f"compile {mode}"] = bench(lambda cm=cm: cm(*args))
            if trace:
                out[f"compile {mode} trace"] = kernel_trace(lambda cm=cm: cm(*args))
    return out


def count_flops(model: torch.nn.Module, args: list[torch.Tensor]) -> tuple[int, Any]:
    """FLOPs of one inference call (2 per multiply-add), and its output. nn.MultiheadAttention's
    inference fast path (torchvision's ViT) runs as one fused op that the flop counter does not see,
    so until the nineteenth session it counted none of ViT's projections or attention: the count
    runs with that path off (the same arithmetic, as separate linear and attention ops)."""
    from torch.utils.flop_counter import FlopCounterMode

    mha = getattr(torch.backends, "mha", None)
    saved = mha.get_fastpath_enabled() if mha else None
    if mha:
        mha.set_fastpath_enabled(False)
    try:
        with torch.inference_mode(), FlopCounterMode(display=False) as fc:
            y = model(*args)
    finally:
        if mha:
            mha.set_fastpath_enabled(saved)
    return fc.get_total_flops(), y


def roofline(
    model: torch.nn.Module, inputs: dict[str, torch.Tensor], peak_tflops: float, bw_gbs: float
) -> dict[str, float]:
    m = model.half().cuda()
    args = [v.cuda().half() if v.dtype.is_floating_point else v.cuda() for v in inputs.values()]
    flops, y = count_flops(m, args)
    nbytes = (
        sum(p.numel() * 2 for p in m.parameters())
        + sum(a.numel() * a.element_size() for a in args)
        + y.numel() * y.element_size()
    )
    return {
        "gflop": flops / 1e9,
        "min_mb": nbytes / 1e6,
        "floor_ms": max(flops / (peak_tflops * 1e9), nbytes / (bw_gbs * 1e6)),
    }


def ceilings() -> tuple[float, float]:
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.float16)
    ms = bench(lambda: a @ a)
    x = torch.empty(256 * 1024 * 1024, device="cuda", dtype=torch.float32)
    y = torch.empty_like(x)
    ms_copy = bench(lambda: y.copy_(x))
    return 2 * 8192**3 / (ms * 1e9), 2 * x.numel() * 4 / (ms_copy * 1e6)


def main() -> None:
    import tritium

    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="resnet50,bert")
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--out", default=os.path.join(os.environ.get("OUT", "."), "bench_models.json"))
    ap.add_argument("--cache", default=os.path.join(os.environ.get("OUT", "."), "timing_cache.json"))
    ap.add_argument("--max-autotune", action="store_true")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--tuning-budget", type=float, default=90.0)
    ap.add_argument("--tuning-level", type=int, default=1)
    ap.add_argument("--profile", action="store_true", help="per-layer times, summed by kernel kind")
    ap.add_argument(
        "--wide-io",
        action="store_true",
        help="keep the models' float32 inputs and outputs (default: FP16 I/O, narrow_io, like the peers)",
    )
    ap.add_argument(
        "--kernel-trace",
        action="store_true",
        help="GPU kernel times by kernel name (profiler device activity), Tritium's and the peers'",
    )
    ap.add_argument(
        "--generated-only-too",
        action="store_true",
        help="also time Tritium with the library tactics (cuBLAS/cuDNN) off: generated kernels only",
    )
    args = ap.parse_args()
    peak, bw = ceilings()
    results: dict[str, Any] = {
        "card": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "triton": __import__("triton").__version__,
        "peak_tflops": peak,
        "copy_gbs": bw,
        "rows": [],
    }
    print(f"card {results['card']}: fp16 matmul {peak:.0f} TFLOP/s, copy {bw:.0f} GB/s", flush=True)
    tmp = Path(tempfile.mkdtemp())
    for name in args.models.split(","):
        model, make_inputs, classifier = build(name)
        for b in (int(x) for x in args.batches.split(",")):
            row: dict[str, Any] = {"model": name, "batch": b}
            inputs = make_inputs(b)
            path = tmp / f"{name}-{b}.onnx"
            export(model.float().cpu(), inputs, path)
            t0 = time.perf_counter()

            def tritium_build(**kw: Any) -> Any:
                return tritium.compile(
                    str(path),
                    fp16=True,
                    narrow_io=not args.wide_io,
                    device="cuda",
                    timing_cache=args.cache,
                    tuning_budget_s=args.tuning_budget,
                    tuning_level=args.tuning_level,
                    **kw,
                )

            engine = tritium_build()
            row["build_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            tritium.compile(
                str(path), fp16=True, narrow_io=not args.wide_io, device="cuda", timing_cache=args.cache
            )
            row["build_warm_s"] = time.perf_counter() - t0
            dev = {k: v.cuda() for k, v in inputs.items()}
            if not args.wide_io:  # f16 in, f16 out, as the peers (FP16 models) take and give
                dev = {k: v.half() if v.is_floating_point() else v for k, v in dev.items()}
            call = bound_call(engine, dev)
            row["tritium"] = bench(call)
            row["tritium run()"] = bench(lambda engine=engine, dev=dev: engine(dev))
            layers = engine.inspect({k: tuple(v.shape) for k, v in inputs.items()})["layers"]
            row["kernels"] = len(layers)
            row["library_layer_names"] = [x["name"] for x in layers if "through torch" in x["tactic"]]
            row["library_layers"] = len(row["library_layer_names"])
            if args.generated_only_too:
                gen = tritium_build(tactic_sources=())
                row["tritium_generated_only"] = bench(bound_call(gen, dev))
                del gen
                row["tritium_again"] = bench(call)  # the same engine after: the card's drift
            row["host_layers"] = [layer["name"] for layer in layers if layer["tactic"] == "host reference"]
            with torch.inference_mode():
                ref = (
                    model.float()
                    .cuda()(*[v.float() if v.is_floating_point() else v for v in dev.values()])
                    .float()
                )
            got = engine(dev)["out"].float()
            row["cosine"] = float(torch.nn.functional.cosine_similarity(got.flatten(), ref.flatten(), dim=0))
            if classifier:
                agree = total = 0
                for _ in range(max(1, 100 // b)):
                    x = {k: torch.randn_like(v) for k, v in dev.items()}
                    with torch.inference_mode():
                        r = model.float().cuda()(*[v.float() for v in x.values()]).argmax(-1)
                    agree += int((engine(x)["out"].argmax(-1) == r).sum())
                    total += r.numel()
                row["top1_agree"] = agree / total
            if args.profile:
                row["profile"] = profile_by_kind(engine, dev)
            if args.kernel_trace:
                row["tritium trace"] = kernel_trace(call)
            row.update(roofline(model, inputs, peak, bw))
            if not args.no_peers:
                row.update(peers(model, inputs, classifier, args.max_autotune, args.kernel_trace))
            results["rows"].append(row)
            print(json.dumps(row), flush=True)
            Path(args.out).write_text(json.dumps(results, indent=1))
            model.float().cpu()
    print_table(results)
    print_traces(results)


def print_traces(results: dict[str, Any], top: int = 12) -> None:
    """Each kernel trace of the run (--kernel-trace): the slowest kernels and the largest gaps."""
    for r in results["rows"]:
        for key, t in r.items():
            if not key.endswith("trace"):
                continue
            gaps = t.get("gaps", {})
            print(
                f"== {r['model']} batch {r['batch']}, {key}: kernels {t['total_ms']} ms, "
                f"{t['launches']} launches, gaps {gaps.get('total_us')} us"
            )
            for name, ms, count in t["top"][:top]:
                print(f"   {ms:.4f} ms {count:5.1f}x {name}")
            for pair, us, count in gaps.get("top", [])[:6]:
                print(f"   gap {us:6.1f} us {count:5.1f}x {pair}")


def bound_call(engine: Any, dev: dict[str, torch.Tensor]) -> Any:
    """Tritium as TensorRT is run at its fastest: inputs and outputs bound to device buffers once
    (set_tensor_address), each call an execute_async_v3, replayed from a CUDA graph that reads and
    writes those buffers in place. The outputs are the context's own (allocate_output: GPT-2's
    logits get padded rows, as torch.compile's do, whose padding the GEMM may write with whole
    vectors). ``engine(dev)`` (run()) copies the inputs into the graph's own buffers and returns
    fresh output tensors: that costs a copy of each, timed as "run()"."""
    ctx = engine.create_execution_context()
    for name, t in dev.items():
        ctx.set_input_shape(name, tuple(t.shape))
        ctx.set_tensor_address(name, t)
    for name in engine(dev):
        ctx.set_tensor_address(name, ctx.allocate_output(name))
    ctx.execute_async_v3(0)
    return lambda: ctx.execute_async_v3(0)


def profile_by_kind(engine: Any, dev: dict[str, Any], slowest: int = 12) -> dict[str, Any]:
    """Per-layer times (no CUDA graph) summed by kernel kind, and the slowest layers."""
    rows = engine.create_execution_context().profile(dev)
    kinds = {
        s.name: getattr(s.op, "kind", s.op.name)
        for s in engine.program({k: tuple(v.shape) for k, v in dev.items()}).steps
    }
    by_kind: dict[str, float] = {}
    for r in rows:
        k = kinds.get(r["layer"], "?")
        by_kind[k] = round(by_kind.get(k, 0.0) + r["median_ms"], 4)
    top = sorted(rows, key=lambda r: -r["median_ms"])[:slowest]
    layers = engine.inspect({k: tuple(v.shape) for k, v in dev.items()})["layers"]
    configs = {layer["name"]: (layer["template"], layer["config"]) for layer in layers}
    return {
        "by_kind_ms": by_kind,
        "top": [(r["layer"][:60], round(r["median_ms"], 4), *configs.get(r["layer"], ())) for r in top],
    }


def print_table(results: dict[str, Any]) -> None:
    peer_keys = ["eager", "eager+cudagraph", "compile reduce-overhead", "compile max-autotune"]
    print(
        f"\n| model | batch | Tritium ms | {' | '.join(k for k in peer_keys)} | best peer / Tritium | floor ms | "
        "build s (warm) | cos | kernels (library) | run() ms |"
    )
    print("|" + "---|" * (9 + len(peer_keys)))
    for r in results["rows"]:
        vals = [r.get(k) for k in peer_keys]
        best = min(v for v in vals if v is not None) if any(v is not None for v in vals) else None
        cells = " | ".join(f"{v:.3f}" if v is not None else "-" for v in vals)
        ratio = f"{best / r['tritium']:.2f}x" if best else "-"
        print(
            f"| {r['model']} | {r['batch']} | {r['tritium']:.3f} | {cells} | {ratio} | {r['floor_ms']:.3f} | "
            f"{r['build_s']:.0f} ({r['build_warm_s']:.0f}) | {r['cosine']:.4f} | "
            f"{r['kernels']} ({r.get('library_layers', 0)}) | {r.get('tritium run()', float('nan')):.3f} |"
        )


if __name__ == "__main__":
    main()
