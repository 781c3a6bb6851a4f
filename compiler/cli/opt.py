"""Read IR, run a pass pipeline, print the IR.

Examples:
  tritium opt model.tir -p canonicalize,cse --print-ir-after-change
  tritium opt bad.tir --verify-diagnostics --split-input-file
  tritium opt --list-passes
  tritium opt model.onnx -p canonicalize,fold-batch-norm   # ONNX models are imported first

A file written as a pass-failure reproducer names its pipeline in a `// configuration: -p '...'`
comment; it is used when no -p is given.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from tritium.cli.diagnostics import check_expected_diagnostics
from tritium.ir.modulefile import load_module, save_module
from tritium.ir.parser import parse_ir
from tritium.ir.printer import print_ir

HELP = "run a pass pipeline on IR (like mlir-opt)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "file", nargs="?", help="IR text (.tir; weights from FILE.weights when present), or - for stdin"
    )
    p.add_argument("-p", "--pipeline", default=None, help="comma-separated passes, e.g. canonicalize,cse")
    p.add_argument("-o", "--output", default=None, help="write the IR here (and its weights beside it)")
    p.add_argument("--print-ir-before-all", action="store_true")
    p.add_argument("--print-ir-after-all", action="store_true")
    p.add_argument("--print-ir-after-change", action="store_true")
    p.add_argument("--print-ir-after-failure", action="store_true")
    p.add_argument("--timing", action="store_true", help="print the time each pass took")
    p.add_argument("--pass-statistics", action="store_true", help="print what each pass reported doing")
    p.add_argument("--no-verify", action="store_true", help="do not verify after each pass")
    p.add_argument("--generic", action="store_true", help="print every op in the generic form")
    p.add_argument("--no-locs", action="store_true", help="do not print locations")
    p.add_argument("--reproducer", default=None, help="on failure, write the IR before the failing pass here")
    p.add_argument(
        "--verify-diagnostics",
        action="store_true",
        help="check the errors against // expected-error {{...}} annotations in the file",
    )
    p.add_argument(
        "--split-input-file", action="store_true", help="treat each '// -----' chunk as its own file"
    )
    p.add_argument("--list-passes", action="store_true", help="list the passes with their documentation")


def list_passes() -> str:
    from tritium.passes import PASS_REGISTRY

    out = []
    for name in sorted(PASS_REGISTRY):
        cls = PASS_REGISTRY[name]
        out.append(name)
        for f in cls.options():
            out.append(f"    {f.name.replace('_', '-')}={f.default!r}")
        for line in (cls.__doc__ or "").strip().splitlines():
            out.append("    " + line.strip())
        out.append("")
    return "\n".join(out)


def read_input(path: str) -> tuple[str, str]:
    if path == "-":
        return sys.stdin.read(), "<stdin>"
    return Path(path).read_text(), path


def configured_pipeline(text: str) -> str | None:
    m = re.search(r"^// configuration: -p '([^']*)'", text, re.M)
    return m.group(1) if m else None


def run(args: argparse.Namespace) -> int:
    if args.list_passes:
        print(list_passes())
        return 0
    if args.file is None:
        print("error: tritium opt needs an input file (or - for stdin)", file=sys.stderr)
        return 2
    if args.file != "-" and Path(args.file).suffix == ".onnx":  # an ONNX model: import it, then the same
        from tritium.frontends.onnx import import_onnx

        module = import_onnx(args.file)
        report = run_passes(module, args.pipeline or "", args)
        if args.output:
            save_module(module, args.output)
        else:
            sys.stdout.write(print_ir(module, generic=args.generic, print_locs=not args.no_locs))
        if args.timing:
            print(report.timing_table(), file=sys.stderr)
        if args.pass_statistics:
            print(report.statistics(), file=sys.stderr)
        return 0
    text, name = read_input(args.file)
    pipeline = args.pipeline if args.pipeline is not None else (configured_pipeline(text) or "")
    if args.verify_diagnostics:
        return check_expected_diagnostics(text, name, pipeline, args.split_input_file)
    chunks = split_chunks(text) if args.split_input_file else [text]
    outputs, reports = [], []
    for chunk in chunks:
        module = (
            load_module(args.file)
            if (args.file != "-" and not args.split_input_file)
            else parse_ir(chunk, name)
        )
        reports.append(run_passes(module, pipeline, args))
        outputs.append(print_ir(module, generic=args.generic, print_locs=not args.no_locs))
        if args.output:
            save_module(module, args.output)
    if not args.output:
        sys.stdout.write("// -----\n".join(outputs))
        sys.stdout.flush()
    for report in reports:  # after the IR, as mlir-opt does
        if args.timing:
            print(report.timing_table(), file=sys.stderr)
        if args.pass_statistics:
            print(report.statistics(), file=sys.stderr)
    return 0


def split_chunks(text: str) -> list[str]:
    """Split on '// -----' lines; other chunks' lines are blanked so that line numbers stay true."""
    lines = text.split("\n")
    cuts = [i for i, line in enumerate(lines) if line.strip() == "// -----"]
    bounds = list(zip([-1, *cuts], [*cuts, len(lines)]))
    return ["\n" * (lo + 1) + "\n".join(lines[lo + 1 : hi]) for lo, hi in bounds]


def run_passes(module: Any, pipeline: str, args: argparse.Namespace) -> Any:
    from tritium.passes import PassManager

    pm = PassManager(
        pipeline,
        verify_each=not args.no_verify,
        print_before_all=args.print_ir_before_all,
        print_after_all=args.print_ir_after_all,
        print_after_change=args.print_ir_after_change,
        print_after_failure=args.print_ir_after_failure,
        reproducer=args.reproducer,
        out=sys.stderr if args.output is None else sys.stdout,
        print_generic=args.generic,
    )
    return pm.run(module)
