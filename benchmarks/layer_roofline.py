"""Each layer of a model's engine against its own roofline floor, on the GPU.

    python benchmarks/layer_roofline.py resnet50 32

A layer's floor is the larger of its kernel's FLOPs (convolutions, GEMMs and attention, 2 per
multiply-add) over the run's measured FP16 matmul peak and the bytes its kernel reads and writes
(inputs, weights and outputs once each) over the measured copy bandwidth. Their sum is what the
engine would take with every kernel at its roofline and nothing overlapped: the bound that fusion
(fewer bytes between kernels), not faster kernels, has to move. Times are the engine profiler's
(each layer alone, no CUDA graph; the end-to-end time is the graph's). Models and inputs are
bench_models.py's; the table is also written to ``$OUT/layers_MODEL_BATCH.json``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_models as bm


def layer_flops(op: Any) -> int:
    """FLOPs of the products inside one kernel op's body."""
    flops = 0
    for region in op.regions:
        for block in region.blocks:
            for o in block.ops:
                out = int(np.prod(o.results[0].type.shape)) if o.results else 0
                if o.name in ("nn.conv", "nn.conv_integer", "nn.conv_float8"):
                    flops += 2 * out * int(np.prod(o.operands[1].type.shape[1:]))  # (K, R, S, C/g)
                elif o.name == "nn.conv_transpose":  # weight (C, K/g, R, S): each input pixel's taps
                    w = o.operands[1].type.shape
                    flops += 2 * int(np.prod(o.operands[0].type.shape)) * int(np.prod(w[1:]))
                elif o.name in ("nn.matmul", "nn.matmul_integer", "nn.matmul_float8"):
                    flops += 2 * out * o.operands[0].type.shape[-1]
                elif o.name == "nn.attention":  # scores and the weighted sum over the keys
                    flops += 4 * int(np.prod(o.operands[0].type.shape)) * o.operands[1].type.shape[-2]
    return flops


def main() -> None:
    name, batch = sys.argv[1], int(sys.argv[2])
    import tritium

    peak, bw = bm.ceilings()
    model, make_inputs, _ = bm.build(name)
    inputs = make_inputs(batch)
    path = Path(tempfile.mkdtemp()) / f"{name}.onnx"
    bm.export(model.float().cpu(), inputs, path)
    cache = os.path.join(os.environ.get("OUT", "."), "timing_cache.json")
    engine = tritium.compile(str(path), fp16=True, narrow_io=True, device="cuda", timing_cache=cache)
    dev = {k: v.cuda().half() if v.is_floating_point() else v.cuda() for k, v in inputs.items()}
    shapes = {k: tuple(v.shape) for k, v in dev.items()}
    times = {r["layer"]: r["median_ms"] * 1e3 for r in engine.create_execution_context().profile(dev)}
    e2e = bm.bench(bm.bound_call(engine, dev)) * 1e3
    chosen = {x["name"]: x for x in engine.inspect(shapes)["layers"]}
    rows = []
    for step in engine.program(shapes).steps:
        if step.mode in ("view", "strided"):  # (they launch nothing)
            continue
        nbytes = sum(v.type.nbytes for v in [*step.inputs, *step.outputs])
        layer = chosen.get(step.name, {})
        rows.append(
            {
                "name": step.name,
                "kind": getattr(step.op, "kind", step.op.name),
                "us": times.get(step.name, float("nan")),
                "flop_us": layer_flops(step.op) / (peak * 1e6),
                "byte_us": nbytes / (bw * 1e3),
                "tactic": layer.get("tactic", ""),
                "config": layer.get("config"),
            }
        )
    floor = sum(max(r["flop_us"], r["byte_us"]) for r in rows)
    missing = [r["name"] for r in rows if r["us"] != r["us"]]  # (NaN: the profiler reported no time)
    if missing:
        print(f"no profiled time for {len(missing)} layers (left out of the sum): {missing[:5]}")
    print(
        f"{name} batch {batch} on {torch.cuda.get_device_name()} (matmul {peak:.0f} TFLOP/s, copy {bw:.0f} "
        f"GB/s): end to end {e2e:.1f} us, layers alone {sum(r['us'] for r in rows if r['us'] == r['us']):.1f} us, sum of the "
        f"layers' floors {floor:.1f} us (FLOPs alone {sum(r['flop_us'] for r in rows):.1f}, bytes alone "
        f"{sum(r['byte_us'] for r in rows):.1f})"
    )
    for r in rows:
        f = max(r["flop_us"], r["byte_us"])
        bound = "flops" if r["flop_us"] > r["byte_us"] else "bytes"
        print(
            f"{r['us']:7.1f} us  floor {f:6.1f} ({bound})  x{r['us'] / max(f, 1e-9):5.2f}  {r['kind'][:12]:12} "
            f"{r['name'][:48]:48} {r['tactic'][:24]}"
        )
    out = Path(os.environ.get("OUT", "."), f"layers_{name}_{batch}.json")
    out.write_text(json.dumps({"e2e_us": e2e, "peak_tflops": peak, "copy_gbs": bw, "layers": rows}, indent=1))


if __name__ == "__main__":
    main()
