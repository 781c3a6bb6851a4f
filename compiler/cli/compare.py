"""Compare Tritium with onnxruntime (and the reference semantics) on the same random inputs.

Per output: max absolute and relative error, cosine similarity, and PASS/FAIL at the tolerances
(``|a - b| <= atol + rtol * |b|`` elementwise, b from onnxruntime), like Polygraphy's
``run --onnxrt --trt``. The exit status is 1 when any output fails.

Examples:
  tritium compare model.onnx
  tritium compare model.onnx --fp16 --rtol 1e-2 --atol 1e-3 --shapes input_ids:2x128
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from tritium.cli.common import (
    add_build_arguments,
    add_shape_arguments,
    input_shapes,
    load_inputs,
    parse_shapes,
    random_inputs,
)

HELP = "compare Tritium with onnxruntime on random inputs (per-output errors)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("onnx", help="the ONNX model")
    add_shape_arguments(p)
    p.add_argument(
        "--rtol", type=float, default=None, help="relative tolerance (default 1e-4, 1e-2 with --fp16/--bf16)"
    )
    p.add_argument(
        "--atol", type=float, default=None, help="absolute tolerance (default 1e-5, 1e-3 with --fp16/--bf16)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    p.add_argument("--loadInputs", default=None, help="inputs from .npy files: name:file.npy,...")
    p.add_argument("--no-reference", action="store_true", help="skip the numpy reference run (large models)")
    add_build_arguments(p)


def errors(got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> dict[str, Any]:
    if got.shape != want.shape:
        return {"ok": False, "why": f"shape {list(got.shape)} vs {list(want.shape)}"}
    a, b = got.astype(np.float64).reshape(-1), want.astype(np.float64).reshape(-1)
    if a.size == 0:
        return {"ok": True, "max_abs": 0.0, "max_rel": 0.0, "cosine": 1.0}
    diff = np.abs(a - b)
    rel = diff / np.maximum(np.abs(b), 1e-12)
    denom = np.linalg.norm(a) * np.linalg.norm(b)
    cos = float(a @ b / denom) if denom > 0 else float(np.array_equal(a, b))
    ok = (
        bool(np.all(diff <= atol + rtol * np.abs(b)))
        if want.dtype.kind in "fc"
        else bool(np.array_equal(a, b))
    )
    return {"ok": ok, "max_abs": float(diff.max()), "max_rel": float(rel.max()), "cosine": cos}


def run(args: argparse.Namespace) -> int:
    import onnxruntime as ort

    import tritium as tr
    from tritium.cli.common import build_from_onnx

    low = args.fp16 or args.bf16
    rtol = args.rtol if args.rtol is not None else (1e-2 if low else 1e-4)
    atol = args.atol if args.atol is not None else (1e-3 if low else 1e-5)
    engine = build_from_onnx(args.onnx, args)
    given = load_inputs(args.loadInputs)
    shapes = input_shapes(engine, {**parse_shapes(args.shapes), **{n: a.shape for n, a in given.items()}})
    inputs = {**random_inputs(engine, shapes, args.seed), **given}
    sess = ort.InferenceSession(args.onnx, providers=["CPUExecutionProvider"])
    want = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, inputs)))
    runs = {"tritium": {n: np.asarray(v) for n, v in engine(inputs).items()}}
    if not args.no_reference:
        runs["reference"] = {
            n: np.asarray(v) for n, v in tr.compile(args.onnx, backend="reference")(inputs).items()
        }
    print(
        f"inputs (seed {args.seed}): "
        + ", ".join(f"{n} {list(a.shape)} {a.dtype}" for n, a in inputs.items())
    )
    print(f"tolerances: rtol {rtol:g}, atol {atol:g}; baseline onnxruntime {ort.__version__} (CPU)")
    failed = 0
    for who, outs in runs.items():
        for n, b in want.items():
            if n not in outs:
                print(f"[FAIL] {who:9s} {n}: not produced")
                failed += 1
                continue
            e = errors(outs[n], b, rtol, atol)
            mark = "PASS" if e["ok"] else "FAIL"
            failed += not e["ok"]
            if "why" in e:
                print(f"[{mark}] {who:9s} {n}: {e['why']}")
            else:
                print(
                    f"[{mark}] {who:9s} {n}: max abs {e['max_abs']:.3e}, max rel {e['max_rel']:.3e}, "
                    f"cosine {e['cosine']:.7f}"
                )
    print("PASSED" if not failed else f"FAILED ({failed} output comparison(s))")
    return 1 if failed else 0
