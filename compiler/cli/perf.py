"""Run an engine and time it, printing trtexec's performance summary (``tritium run`` / ``tritium bench``).

Examples:
  tritium bench --loadEngine resnet50.plan --shapes input:32x3x224x224 --useCudaGraph
  tritium run --onnx model.onnx --loadInputs x:x.npy --saveOutputs out/
  tritium bench --loadEngine m.plan --dumpProfile --exportProfile prof.json --exportLayerInfo layers.json

Each iteration copies the inputs host → device (H2D), enqueues the engine (execute_async_v3; with
--useCudaGraph, a replay of its captured CUDA graph), runs it (GPU compute) and copies the outputs
back (D2H); the phases are timed with CUDA events on the GPU and the host clock on the CPU.
Latency is H2D + GPU compute + D2H; enqueue time is the host time of the launch call.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from tritium.cli.common import (
    add_build_arguments,
    add_shape_arguments,
    input_shapes,
    load_engine,
    load_inputs,
    parse_shapes,
    random_inputs,
)
from tritium.ir.diagnostics import TritiumError


def add_common(p: argparse.ArgumentParser, iterations: int, warm_up: float, duration: float) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--loadEngine", help="a plan written by tritium build / engine.save")
    src.add_argument("--onnx", help="an ONNX model (built first, with the build flags below)")
    add_shape_arguments(p)
    p.add_argument("--iterations", type=int, default=iterations, help="run at least this many inferences")
    p.add_argument("--warmUp", type=float, default=warm_up, help="warm up for this many milliseconds")
    p.add_argument("--duration", type=float, default=duration, help="run for at least this many seconds")
    p.add_argument(
        "--useCudaGraph", action="store_true", help="capture the engine in a CUDA graph and replay it"
    )
    p.add_argument("--dumpProfile", action="store_true", help="print per-layer times")
    p.add_argument("--exportProfile", default=None, help="write per-layer times as JSON")
    p.add_argument("--exportLayerInfo", default=None, help="write the engine inspector's JSON")
    p.add_argument("--loadInputs", default=None, help="inputs from .npy files: name:file.npy,...")
    p.add_argument("--saveOutputs", default=None, help="write each output to DIR/NAME.npy")
    add_build_arguments(p)


class Timeline:
    """Per-iteration phase times: CUDA events on the GPU, the host clock on the CPU."""

    def __init__(self, cuda: bool) -> None:
        self.cuda = cuda
        self.pending: list[tuple[Any, ...]] = []
        self.rows: list[tuple[float, float, float, float]] = []  # h2d, compute, d2h, enqueue (ms)

    def mark(self) -> Any:
        if self.cuda:
            import torch

            e = torch.cuda.Event(enable_timing=True)
            e.record()
            return e
        return time.perf_counter()

    def add(self, a: Any, b: Any, c: Any, d: Any, enqueue_ms: float) -> None:
        self.pending.append((a, b, c, d, enqueue_ms))

    def finish(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            for a, b, c, d, enq in self.pending:
                self.rows.append((a.elapsed_time(b), b.elapsed_time(c), c.elapsed_time(d), enq))
        else:
            for a, b, c, d, enq in self.pending:
                self.rows.append((1e3 * (b - a), 1e3 * (c - b), 1e3 * (d - c), enq))
        self.pending.clear()


def _stats(values: list[float]) -> str:
    v = np.asarray(values)
    p = np.percentile(v, [50, 90, 95, 99])
    return (
        f"min = {v.min():.5f} ms, max = {v.max():.5f} ms, mean = {v.mean():.5f} ms, median = {p[0]:.5f} ms, "
        f"percentile(90%) = {p[1]:.5f} ms, percentile(95%) = {p[2]:.5f} ms, percentile(99%) = {p[3]:.5f} ms"
    )


def measure(engine: Any, host_inputs: dict[str, np.ndarray], args: argparse.Namespace) -> dict[str, Any]:
    """Time ``engine`` on ``host_inputs``; returns the summary numbers and the last outputs."""
    import torch

    from tritium.runtime.program import from_numpy, torch_dtype

    ctx = engine.create_execution_context()
    device = engine.device
    cuda = device.type == "cuda"
    host = {n: from_numpy(a) for n, a in host_inputs.items()}  # (0-d, bf16 and float 8 arrays too)
    if cuda:
        host = {n: t.pin_memory() for n, t in host.items()}
    dev = {n: torch.empty_like(t, device=device) for n, t in host.items()}
    for n, t in dev.items():
        ctx.set_input_shape(n, tuple(t.shape))
    outs = {}
    for n in engine.output_names:
        shape = tuple(ctx.get_tensor_shape(n))
        dtype = torch_dtype(engine.get_tensor_dtype(n).dtype)
        outs[n] = torch.empty(shape, dtype=dtype, device=device)
    for n, t in {**dev, **outs}.items():
        ctx.set_tensor_address(n, t)
    out_host = {n: torch.empty_like(t, device="cpu", pin_memory=cuda) for n, t in outs.items()}
    stream = torch.cuda.Stream() if cuda else None

    def enqueue() -> None:
        ctx.execute_async_v3(stream.cuda_stream if stream is not None else 0)

    for n in dev:
        dev[n].copy_(host[n])
    enqueue()  # the first run builds the program (kernels compile here)
    if cuda:
        torch.cuda.synchronize()
    use_graph = bool(args.useCudaGraph and cuda)
    ctx.use_cuda_graph = use_graph
    if use_graph:  # the context captures its CUDA graph after a first run, then replays it
        for _ in range(2):
            ctx.run(dev)
        torch.cuda.synchronize()

    def launch() -> None:
        if use_graph:
            for n, t in ctx.run(dev).items():
                outs[n] = t
        else:
            enqueue()

    def one(timeline: Timeline | None) -> None:
        ctxm = torch.cuda.stream(stream) if stream is not None else _null()
        with ctxm:
            a = timeline.mark() if timeline else None
            for n in dev:
                dev[n].copy_(host[n], non_blocking=True)
            b = timeline.mark() if timeline else None
            t0 = time.perf_counter()
            launch()
            enq = 1e3 * (time.perf_counter() - t0)
            c = timeline.mark() if timeline else None
            for n in outs:
                out_host[n].copy_(outs[n], non_blocking=True)
            d = timeline.mark() if timeline else None
            if timeline is not None:
                timeline.add(a, b, c, d, enq)

    warm_until = time.perf_counter() + args.warmUp / 1e3
    while time.perf_counter() < warm_until:
        one(None)
    timeline = Timeline(cuda)
    start = time.perf_counter()
    n = 0
    while n < args.iterations or time.perf_counter() - start < args.duration:
        one(timeline)
        n += 1
        if len(timeline.pending) >= 256:
            timeline.finish()
    timeline.finish()
    wall = time.perf_counter() - start
    rows = np.asarray(timeline.rows)
    return {
        "iterations": n,
        "wall_s": wall,
        "h2d": rows[:, 0].tolist(),
        "compute": rows[:, 1].tolist(),
        "d2h": rows[:, 2].tolist(),
        "enqueue": rows[:, 3].tolist(),
        "latency": (rows[:, 0] + rows[:, 1] + rows[:, 2]).tolist(),
        "outputs": {n: t.numpy().copy() for n, t in out_host.items()},
        "context": ctx,
    }


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *a: Any) -> None:
        return None


def summary(m: dict[str, Any], batch: int | None) -> str:
    lines = ["=== Performance summary ==="]
    qps = m["iterations"] / m["wall_s"]
    lines.append(
        f"Throughput: {qps:.3f} qps" + (f" ({qps * batch:.1f} samples/s at batch {batch})" if batch else "")
    )
    lines.append("Latency: " + _stats(m["latency"]))
    lines.append("Enqueue Time: " + _stats(m["enqueue"]))
    lines.append("H2D Latency: " + _stats(m["h2d"]))
    lines.append("GPU Compute Time: " + _stats(m["compute"]))
    lines.append("D2H Latency: " + _stats(m["d2h"]))
    lines.append(f"Total Host Walltime: {m['wall_s']:.5f} s")
    lines.append(f"Total GPU Compute Time: {sum(m['compute']) / 1e3:.5f} s")
    lines.append(f"Iterations: {m['iterations']}")
    return "\n".join(lines)


def run_and_report(args: argparse.Namespace, print_outputs: bool) -> int:
    engine = load_engine(args)
    given = load_inputs(args.loadInputs)
    shapes = input_shapes(engine, {**parse_shapes(args.shapes), **{n: a.shape for n, a in given.items()}})
    inputs = {**random_inputs(engine, shapes), **given}
    for n, a in given.items():
        want = engine.get_tensor_dtype(n).dtype.np_dtype
        if a.dtype != want:
            raise TritiumError(f"--loadInputs: '{n}' holds {a.dtype}; the engine takes {want}")
    print(
        f"engine on {engine.device}; inputs: "
        + ", ".join(f"{n} {list(a.shape)} {a.dtype}" for n, a in inputs.items())
    )
    m = measure(engine, inputs, args)
    if print_outputs:
        for n, a in m["outputs"].items():
            flat = a.reshape(-1)
            head = ", ".join(f"{x:.6g}" for x in flat[:8].tolist())
            print(f"output {n}: {list(a.shape)} {a.dtype} [{head}{', ...' if flat.size > 8 else ''}]")
    if args.saveOutputs:
        out = Path(args.saveOutputs)
        out.mkdir(parents=True, exist_ok=True)
        for n, a in m["outputs"].items():
            np.save(out / f"{n.replace('/', '_')}.npy", a)
    batch = next(iter(shapes.values()))[0] if shapes and next(iter(shapes.values())) else None
    print(summary(m, batch))
    if args.dumpProfile or args.exportProfile:
        rows = m["context"].profile(
            {n: a for n, a in inputs.items()}, iterations=max(1, min(args.iterations, 20))
        )
        if args.dumpProfile:
            print("=== Profile (per layer, median over runs) ===")
            for r in sorted(rows, key=lambda r: -r["median_ms"]):
                print(f"{r['median_ms']:10.4f} ms {r['percent']:6.1f}%  {r['mode']:<7} {r['layer']}")
        if args.exportProfile:
            Path(args.exportProfile).write_text(json.dumps(rows, indent=2))
    if args.exportLayerInfo:
        Path(args.exportLayerInfo).write_text(json.dumps(engine.inspect(shapes), indent=2, default=str))
    return 0
