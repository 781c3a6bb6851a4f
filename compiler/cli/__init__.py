"""The ``tritium`` command line: one sub-command per module in this package.

tritium opt FILE -p PIPELINE                     the mlir-opt of Tritium (IR text in, IR text out)
tritium inspect MODEL.onnx|M.tir|M.plan          I/O, ops, support; or an engine's layers and kernels
tritium build --onnx M.onnx --saveEngine M.plan  build and save a plan (trtexec's build half)
tritium run|bench --loadEngine M.plan            run / time an engine (trtexec's performance summary)
tritium compare M.onnx                           Tritium vs onnxruntime, per-output errors
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tritium.cli import bench, build, compare, inspect, opt, run
from tritium.ir.diagnostics import TritiumError

COMMANDS = {"opt": opt, "inspect": inspect, "build": build, "run": run, "bench": bench, "compare": compare}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tritium", description="Tritium: deep-learning inference compiler")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, mod in COMMANDS.items():
        p = sub.add_parser(
            name, help=mod.HELP, description=mod.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        mod.add_arguments(p)
    args = parser.parse_args(argv)
    try:
        return int(COMMANDS[args.command].run(args) or 0)
    except TritiumError as e:
        print(str(e), file=sys.stderr)
        return 1
    except FileNotFoundError as e:
        print(f"error: {e.strerror}: {e.filename}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
