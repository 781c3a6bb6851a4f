"""Build an engine from an ONNX model and save its plan (trtexec --onnx ... --saveEngine ...).

Examples:
  tritium build --onnx resnet50.onnx --saveEngine resnet50.plan --fp16
  tritium build --onnx bert.onnx --saveEngine bert.plan --fp16 \\
      --minShapes input_ids:1x128 --optShapes input_ids:8x128 --maxShapes input_ids:32x128
  tritium build --onnx m.onnx --saveEngine m.plan --timingCacheFile m.cache   # a warm cache skips timing
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from tritium.cli.common import add_build_arguments, add_shape_arguments, build_from_onnx

HELP = "build an engine from ONNX and save the plan (like trtexec)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--onnx", required=True, help="the ONNX model")
    p.add_argument("--saveEngine", required=True, help="where to write the plan")
    add_shape_arguments(p)
    add_build_arguments(p)


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    engine = build_from_onnx(args.onnx, args)
    plan = engine.serialize()
    Path(args.saveEngine).write_bytes(plan)
    took = time.perf_counter() - t0
    tuning = engine.manifest.get("build", {}).get("tuning", {})
    print(f"built {args.onnx} in {took:.1f} s on {engine.device}", end="")
    if tuning:
        print(
            f" ({tuning.get('timed', 0)} configs timed, {tuning.get('cache_hits', 0)} timing-cache hits)",
            end="",
        )
    print(f"\nsaved {args.saveEngine} ({len(plan) / 1e6:.1f} MB)")
    return 0
