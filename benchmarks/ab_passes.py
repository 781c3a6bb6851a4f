"""A/B of graph passes on whole models, on the GPU: each model built twice (A: the default pipeline,
B: without the passes named), each from an empty timing cache, then timed interleaved in one
process (three rounds, bound buffers and CUDA graphs as in bench_models.py), with the two outputs'
cosine and each engine's tactics. ResNet-50 without ``merge-summed-matmuls`` gave RESULTS.md's
twentieth-session A/B.

    python benchmarks/ab_passes.py resnet50 32,1 merge-summed-matmuls

An item ``env:NAME=VALUE`` sets that environment variable for B's build and first run instead (a
fusion rule's switch): ``python benchmarks/ab_passes.py mobilenetv2 32 env:TRITIUM_DEPTHWISE_GEMM=1``.
"""

from __future__ import annotations

import collections
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_models as bm

import tritium
from tritium.passes import pipelines


def main(name: str, batches: str, without: str) -> None:
    out = Path(os.environ.get("OUT", tempfile.mkdtemp()))
    dropped = {p for p in without.split(",") if not p.startswith("env:")}
    env = dict(p[4:].split("=", 1) for p in without.split(",") if p.startswith("env:"))
    default = list(pipelines.GRAPH[2])
    unknown = dropped - set(default)
    if unknown:
        raise SystemExit(f"not in the level-2 graph pipeline: {sorted(unknown)} (it has {default})")
    model, make_inputs, _ = bm.build(name)
    for b in (int(x) for x in batches.split(",")):
        inputs = make_inputs(b)
        path = Path(tempfile.mkdtemp()) / f"{name}-{b}.onnx"
        bm.export(model.float().cpu(), inputs, path)
        dev = {k: (v.cuda().half() if v.is_floating_point() else v.cuda()) for k, v in inputs.items()}
        engines = {}
        for tag in ("A", "B"):
            pipelines.GRAPH[2] = default if tag == "A" else [p for p in default if p not in dropped]
            saved = {k: os.environ.get(k) for k in env}
            for k, v in env.items():  # (A builds without them, whatever the shell exports)
                if tag == "B":
                    os.environ[k] = v
                else:
                    os.environ.pop(k, None)
            t0 = time.perf_counter()
            engines[tag] = tritium.compile(
                str(path),
                fp16=True,
                narrow_io=True,
                device="cuda",
                timing_cache=str(out / f"cache_{name}_{b}_{tag}.json"),
            )
            engines[tag](dev)  # (the program for these shapes is made now, under B's settings)
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            tactics = collections.Counter(layer["tactic"] for layer in engines[tag].inspect()["layers"])
            print(name, b, tag, f"build {time.perf_counter() - t0:.1f} s", dict(tactics), flush=True)
        pipelines.GRAPH[2] = default
        ya, yb = (next(iter(e(dev).values())).float().flatten() for e in engines.values())
        print("cosine A/B", float(torch.nn.functional.cosine_similarity(ya, yb, dim=0)))
        calls = {tag: bm.bound_call(e, dev) for tag, e in engines.items()}
        times = collections.defaultdict(list)
        for _ in range(3):
            for tag, fn in calls.items():
                times[tag].append(round(bm.bench(fn), 4))
        print(name, b, "ms", dict(times), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
