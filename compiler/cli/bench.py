"""Benchmark an engine, printing trtexec's performance summary.

Examples:
  tritium bench --loadEngine resnet50.plan --useCudaGraph
  tritium bench --onnx resnet50.onnx --fp16 --shapes input:32x3x224x224 --duration 5
"""

from __future__ import annotations

import argparse

from tritium.cli import perf

HELP = "time an engine (plan or ONNX): throughput, latency percentiles, H2D/compute/D2H"


def add_arguments(p: argparse.ArgumentParser) -> None:
    perf.add_common(p, iterations=10, warm_up=200.0, duration=3.0)


def run(args: argparse.Namespace) -> int:
    return perf.run_and_report(args, print_outputs=False)
