"""One model built from two timing caches, side by side on the GPU: why two builds differ in speed.

    python benchmarks/compare_caches.py vit 1 benchmarks/data/vit1_fast_build_cache.json \\
        benchmarks/data/vit1_usual_build_cache.json env:TRITIUM_CONSTEXPR_SIZES=none

Each engine is built from a copy of its cache (warm: the cached configs, no timing; a kernel the
cache lacks is tuned, and said so), with the ``env:NAME=VALUE`` items set for both builds (as
``ab_passes.py`` takes them). It prints:

- the layers whose chosen configs differ;
- both engines timed interleaved (bound buffers and CUDA graphs as ``bench_models.py``, three rounds);
- each engine's GPU time by kernel name inside its CUDA graph, and the idle gaps between kernels;
- the layers whose per-layer times (run without a graph) differ by more than 1 us.

The run's end-to-end difference against the sum of kernel times and gaps says whether a faster
build is faster in its kernels or in how they follow each other (programmatic dependent launch,
tails).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_models as bm

import tritium


def build(path: Path, cache: str) -> tuple[Any, int]:
    """The engine built from a copy of ``cache``, and how many candidates tuning timed (0: all cached)."""
    copy = Path(tempfile.mkdtemp()) / Path(cache).name
    shutil.copy(cache, copy)
    engine = tritium.compile(str(path), fp16=True, narrow_io=True, device="cuda", timing_cache=str(copy))
    return engine, engine.manifest["build"].get("tuning", {}).get("timed", 0)


def layer_configs(engine: Any, shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
    return {layer["name"]: layer.get("config") for layer in engine.inspect(shapes)["layers"]}


def main(name: str, batch: str, cache_a: str, cache_b: str, *items: str) -> None:
    for item in items:
        if not item.startswith("env:") or "=" not in item:
            raise SystemExit(f"expected env:NAME=VALUE items after the two caches, got {item!r}")
        key, value = item[4:].split("=", 1)
        os.environ[key] = value
    for cache in (cache_a, cache_b):
        if not Path(cache).is_file():
            raise SystemExit(f"no timing cache at {cache}")
    model, make_inputs, _ = bm.build(name)
    inputs = make_inputs(int(batch))
    path = Path(tempfile.mkdtemp()) / f"{name}-{batch}.onnx"
    bm.export(model.float().cpu(), inputs, path)
    dev = {k: (v.cuda().half() if v.is_floating_point() else v.cuda()) for k, v in inputs.items()}
    shapes = {k: tuple(v.shape) for k, v in dev.items()}
    engines = {}
    for tag, cache in (("A", cache_a), ("B", cache_b)):
        engines[tag], timed = build(path, cache)
        print(f"{tag}: {cache} ({timed} candidates timed: {'not ' if timed else ''}all cached)", flush=True)
    configs = {tag: layer_configs(e, shapes) for tag, e in engines.items()}
    for layer in configs["A"]:
        if configs["A"][layer] != configs["B"].get(layer):
            print(
                f"  config differs: {layer[:70]}\n    A {configs['A'][layer]}\n    B {configs['B'].get(layer)}"
            )
    calls = {tag: bm.bound_call(e, dev) for tag, e in engines.items()}
    times: dict[str, list[float]] = {"A": [], "B": []}
    for _ in range(3):
        for tag, fn in calls.items():
            times[tag].append(round(bm.bench(fn), 4))
    print("end to end ms", times, flush=True)
    for tag, fn in calls.items():
        trace = bm.kernel_trace(fn, top=8)
        print(
            f"{tag}: kernels {trace['total_ms']} ms in {trace['launches']} launches, gaps {trace['gaps']['total_us']} us"
        )
        for row in trace["top"]:
            print("   ", row)
        for row in trace["gaps"]["top"][:5]:
            print("    gap", row)
    profiles = {
        tag: {r["layer"]: r["median_ms"] for r in e.create_execution_context().profile(dev)}
        for tag, e in engines.items()
    }
    diffs = [
        (layer, ms, profiles["B"].get(layer, 0.0))
        for layer, ms in profiles["A"].items()
        if abs(ms - profiles["B"].get(layer, 0.0)) > 0.001
    ]
    print(f"layers differing by more than 1 us (of {len(profiles['A'])}), A ms, B ms:")
    for layer, a, b in sorted(diffs, key=lambda d: -abs(d[1] - d[2])):
        print(f"  {a:.4f} {b:.4f} {layer[:90]}")
    print("per-layer totals ms", {tag: round(sum(p.values()), 4) for tag, p in profiles.items()})


if __name__ == "__main__":
    if len(sys.argv) < 5:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
