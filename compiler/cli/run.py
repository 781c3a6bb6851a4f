"""Run an engine once and print its outputs and performance summary (trtexec without --duration).

Examples:
  tritium run --loadEngine m.plan --shapes x:1x3x224x224
  tritium run --onnx m.onnx --loadInputs x:x.npy --saveOutputs outs/
"""

from __future__ import annotations

import argparse

from tritium.cli import perf

HELP = "run an engine (plan or ONNX) and print outputs and timings"


def add_arguments(p: argparse.ArgumentParser) -> None:
    perf.add_common(p, iterations=1, warm_up=0.0, duration=0.0)


def run(args: argparse.Namespace) -> int:
    return perf.run_and_report(args, print_outputs=True)
