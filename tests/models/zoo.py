"""Run the whole-model cases (tests/models/nets.py) through Tritium and onnxruntime.

Usage:
    python -m tests.models.zoo                # run every model and exporter; print results and the
                                              # XFAIL table for tests/models/test_models.py
    python -m tests.models.zoo -k bert        # only the models whose name contains "bert"
    python -m tests.models.zoo --export-only  # fill the export cache (prints export times)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from tests.models.nets import CASES, EXPORTERS, MODELS, cache_dir, exported

__all__ = ["CASES", "EXPORTERS", "MODELS", "TOLERANCE", "compare_with_onnxruntime", "exported"]

TOLERANCE = 1e-4
"""Largest accepted ||tritium - onnxruntime|| / ||onnxruntime|| per output (float32)."""


# ---------------------------------------------------------------------------------------------------
# Running a model through Tritium and onnxruntime


def onnxruntime_run(path: Path | str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC  # exact rewrites only
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, inputs)))


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    want64, got64 = want.astype(np.float64), got.astype(np.float64)
    return float(np.linalg.norm(got64 - want64) / np.linalg.norm(want64))


def compare_with_onnxruntime(
    path: Path | str, inputs: dict[str, np.ndarray], engine: Any = None
) -> dict[str, float]:
    """Relative error of every output of ``tritium.compile(path)`` against onnxruntime.

    Raises the compiler's own error when the model cannot be imported or run, and AssertionError
    when an output is missing, has another shape or dtype, or the oracle output is degenerate.
    """
    import tritium

    want = onnxruntime_run(path, inputs)
    if engine is None:
        engine = tritium.compile(str(path), backend="reference")
    got = engine(inputs)
    errors = {}
    for name, w in want.items():
        assert name in got, f"output '{name}' missing; got {sorted(got)}"
        g = np.asarray(got[name])
        assert g.shape == w.shape, f"{name}: shape {g.shape}, onnxruntime gives {w.shape}"
        assert g.dtype == w.dtype, f"{name}: dtype {g.dtype}, onnxruntime gives {w.dtype}"
        assert np.all(np.isfinite(w)) and float(np.std(w)) > 1e-3, f"{name}: degenerate oracle output"
        errors[name] = relative_error(g, w)
    return errors


def failure_reason(path: Path | str) -> str | None:
    """Why ``path`` cannot be imported: the op types without a converter for the model's opset (every
    node, subgraphs included) and the nodes whose converter failed. None when it imports."""
    import onnx

    from tritium.frontends.onnx import OnnxImportError, import_onnx
    from tritium.frontends.onnx.registry import lookup

    try:
        import_onnx(str(path))
        return None
    except OnnxImportError as e:
        errors = e.errors
    proto = onnx.load_model(str(path), load_external_data=False)
    opsets = {("" if o.domain == "ai.onnx" else o.domain): o.version for o in proto.opset_import}
    missing: set[str] = set()

    def walk(g: onnx.GraphProto) -> None:
        for n in g.node:
            domain = "" if n.domain == "ai.onnx" else n.domain
            if lookup(domain, n.op_type, opsets.get(domain, 0)) is None:
                missing.add(n.op_type if not n.domain else f"{n.domain}.{n.op_type}")
            for a in n.attribute:
                for sub in [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs):
                    walk(sub)

    walk(proto.graph)
    failing = sorted(
        {f"{err.op_type}: {err.reason}" for err in errors if err.op_type not in missing and err.op_type}
    )
    parts = []
    if missing:
        parts.append("no converter for " + ", ".join(sorted(missing)))
    if failing:
        parts.append("converter fails: " + "; ".join(failing))
    return "; ".join(parts) or "import fails"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-k", default="", help="only models whose name contains this")
    ap.add_argument("--export-only", action="store_true", help="only fill the cache")
    args = ap.parse_args()
    print(f"cache: {cache_dir()}")
    table: dict[tuple[str, str], str] = {}
    for name, exporter in CASES:
        if args.k not in name:
            continue
        t0 = time.perf_counter()
        fresh = not (cache_dir() / f"{name}-{exporter}.onnx").exists()
        path = exported(name, exporter)
        t_export = time.perf_counter() - t0
        label = f"{name}-{exporter}"
        size = path.stat().st_size / 1e6
        if fresh:
            print(f"{label}: exported in {t_export:.1f} s ({size:.2f} MB)")
        if args.export_only:
            continue
        t0 = time.perf_counter()
        reason = failure_reason(path)
        if reason is not None:
            table[(name, exporter)] = reason
            print(f"{label}: XFAIL {reason}")
            continue
        from tritium.ir.diagnostics import TritiumError

        try:
            rng = np.random.default_rng()
            errs = compare_with_onnxruntime(path, MODELS[name].inputs(rng, False))
        except TritiumError as e:  # the compiler cannot run it yet: an xfail entry
            table[(name, exporter)] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
            print(f"{label}: XFAIL {table[(name, exporter)]}")
            continue
        except Exception as e:  # a wrong answer or a broken harness: never an xfail
            print(f"{label}: FAIL {type(e).__name__}: {str(e).splitlines()[0][:300]}")
            continue
        worst = max(errs.values())
        verdict = "ok" if worst <= TOLERANCE else "MISMATCH"
        errs_text = ", ".join(f"{k} {v:.2e}" for k, v in errs.items())
        print(f"{label}: {verdict} ({errs_text}; {time.perf_counter() - t0:.1f} s)")
    if table:
        print("\nXFAIL = {")
        for (name, exporter), reason in table.items():
            print(f'    ("{name}", "{exporter}"): {reason!r},')
        print("}")


if __name__ == "__main__":
    main()
