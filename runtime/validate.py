"""Per-layer validation: every generated kernel against the reference semantics of the ops it fuses.

Each kernel of an engine's program runs on the outputs the previous kernels produced, and so does
the reference evaluation of the same kernel op; the table reports their relative error per output.
Feeding each layer the same inputs separates a wrong kernel from error that merely accumulates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tritium.runtime.program import from_numpy, to_numpy, to_torch


def validate(engine: Any, inputs: Mapping[str, np.ndarray], tolerance: float = 1e-4) -> list[dict[str, Any]]:
    """Rows ``{layer, kind, tactic, rel_error, ok}`` for every layer run with a generated kernel."""
    import torch

    shapes = {n: tuple(np.shape(v)) for n, v in inputs.items()}
    prog = engine.program(shapes)
    env: dict[Any, Any] = dict(prog.constants)
    for n, a in zip(engine.input_names, prog.func.args):
        env[a] = from_numpy(np.asarray(inputs[n])).to(engine.device)
    arena = torch.empty(max(prog.arena_bytes, 1), dtype=torch.uint8, device=engine.device)
    rows = []
    for step in prog.steps:
        args = [env[v] for v in step.inputs]
        # the reference result of this kernel, on the same inputs
        want = prog.interp.eval_op(step.op, [to_numpy(a) for a in args], {})
        if step.mode == "kernel":
            outs = [
                prog.arena_view(arena, off, v)
                if off >= 0
                else torch.empty(
                    tuple(v.type.shape),  # type: ignore[attr-defined]
                    dtype=to_torch(np.asarray(w), "cpu").dtype,
                    device=engine.device,
                )
                for v, off, w in zip(step.outputs, step.offsets, want)
            ]
            produced = step.kernel([a.contiguous() for a in args], outs, step.config)
            outs = list(produced) if produced is not None else outs  # a library call's own results
            got = [to_numpy(o) for o in outs]
            errs = [_rel(g, np.asarray(w)) for g, w in zip(got, want)]
            err = max(errs) if errs else 0.0
            rows.append(
                {
                    "layer": step.name,
                    "kind": getattr(step.op, "kind", step.op.name),
                    "kernel": step.kernel.name,
                    "rel_error": err,
                    "ok": err <= tolerance,
                }
            )
            results = outs
        else:
            results = [to_torch(np.asarray(w), engine.device) for w in want]
        for v, t in zip(step.outputs, results):
            env[v] = t.clone() if hasattr(t, "clone") else t
    return rows


def _rel(got: np.ndarray, want: np.ndarray) -> float:
    if got.shape != want.shape:
        return float("inf")
    if want.dtype.kind not in "fc":
        return 0.0 if np.array_equal(got, want) else float("inf")
    g, w = got.astype(np.float64), want.astype(np.float64)
    if np.isnan(g).any() != np.isnan(w).any():
        return float("inf")
    g, w = np.nan_to_num(g), np.nan_to_num(w)
    return float(np.linalg.norm(g - w) / max(np.linalg.norm(w), 1e-30))
