"""The runtime's figures on the GPU (issue 6), for ResNet-50 in FP16:

- deserialize a plan and run the first inference, in a fresh process with an empty Triton cache:
  with the plan's cached kernel binaries, and without them (every kernel compiles);
- four execution contexts in four threads give the single-context results;
- refitting all weights (through the BatchNorm folding) and the first inference after it, checked
  against PyTorch with the new weights.

    python benchmarks/bench_runtime.py --out $OUT/bench_runtime.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_models import rerandomize

import tritium as tr

FIRST_RUN = """
import sys, threading, time, numpy as np, torch
t0 = time.perf_counter()
import tritium as tr
t1 = time.perf_counter()
engine = tr.load(sys.argv[1], trust_binaries=True)
t2 = time.perf_counter()
x = torch.randn(1, 3, 224, 224, device="cuda")
y = engine({"input": x})["output"]
torch.cuda.synchronize()
t3 = time.perf_counter()
print({"import_s": t1 - t0, "load_s": t2 - t1, "first_run_s": t3 - t2, "total_s": t3 - t1})
"""

TRACED_RUN = """
import sys, threading, time, numpy as np, torch
import triton, triton.compiler.compiler as tcc, triton.runtime.build as trb
from tritium.runtime.program import Program
if len(sys.argv) > 2:
    Program.precompile.__defaults__ = (int(sys.argv[2]),)  # compile workers (0: the default)
spans = []  # (what, thread, start, seconds)
def traced(mod, name, what):
    fn = getattr(mod, name)
    def run(*a, **k):
        s = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            spans.append((what, threading.current_thread().name, s, time.perf_counter() - s))
    setattr(mod, name, run)
traced(tcc, "compile", "triton compile (cache lookup or full)")
traced(trb, "_build", "gcc build (launcher or driver utils)")
sources = []
_build = trb._build
def build(name, src, *a, **k):
    sources.append(open(src).read())
    return _build(name, src, *a, **k)
trb._build = build
traced(Program, "precompile", "precompile (all kernels)")
t0 = time.perf_counter()
import tritium as tr
t1 = time.perf_counter()
torch.zeros(1, device="cuda"); torch.cuda.synchronize()
t2 = time.perf_counter()
engine = tr.load(sys.argv[1], trust_binaries=True)
t3 = time.perf_counter()
x = torch.randn(1, 3, 224, 224, device="cuda")
prog = engine.program({"input": tuple(x.shape)})
t4 = time.perf_counter()
y = engine({"input": x})["output"]
torch.cuda.synchronize()
t5 = time.perf_counter()
by = {}
for what, th, s, d in spans:
    key = what + (" [main]" if th == "MainThread" else " [pool]")
    n, tot = by.get(key, (0, 0.0))
    by[key] = (n + 1, round(tot + d, 3))
# kernels compiled here although the plan carried binaries: groups in Triton's cache it did not bring
import glob, json, os
from collections import Counter
from tritium.runtime.plan import load_plan_file
carried = {k.split("/")[0] for k in (load_plan_file(sys.argv[1]).binaries or {})}
made = []
for group in glob.glob(os.path.join(os.environ["TRITON_CACHE_DIR"], "*", "*.json")):
    if os.path.basename(group).startswith("__grp__"):
        continue
    meta = json.load(open(group))
    if meta.get("hash") in carried:  # folders are named by an encoding of the hash
        continue
    made.append((meta.get("name"), meta.get("num_warps"), meta.get("num_stages"), meta.get("shared")))
kernels = [s for s in prog.steps if s.mode == "kernel"]
# why: each variant compiled here against the build's variants of the same kernel, field by field
sys.path.insert(0, sys.argv[3])
from bench_runtime import variant_keys
from tritium.codegen.triton_env import loaded_modules, source_hash
built = json.load(open(sys.argv[4]))
here = variant_keys(loaded_modules([s.kernel.source for s in kernels]).values())
why = []
for v in here:
    if v["hash"] in carried:
        continue
    same = [b for b in built if b["name"] == v["name"]]
    diffs = [{k: (v[k], b[k]) for k in v if v[k] != b.get(k) and k != "hash"} for b in same]
    why.append((v["name"], min(diffs, key=len) if diffs else "no such kernel in the build"))
print({"import_s": t1 - t0, "cuda_init_s": t2 - t1, "load_s": t3 - t2, "program_s": t4 - t3,
       "first_run_s": t5 - t4, "total_after_import_s": t5 - t1, "calls_and_seconds": by,
       "distinct_gcc_sources": len(set(sources)), "kernel_steps": len(kernels),
       "distinct_kernels": len({source_hash(s.kernel.source) for s in kernels}), "carried_groups": len(carried),
       "compiled_not_carried": sorted(made, key=str), "why_not_carried": why[:12]})
"""

PROFILED_RUN = """
import cProfile, io, pstats, sys, time, torch
from tritium.runtime.program import Program
Program.precompile.__defaults__ = (1,)  # serial, so that the profile sees every kernel's setup
import tritium as tr
torch.zeros(1, device="cuda"); torch.cuda.synchronize()
prof = cProfile.Profile()
t0 = time.perf_counter()
prof.enable()
engine = tr.load(sys.argv[1], trust_binaries=True)
x = torch.randn(1, 3, 224, 224, device="cuda")
y = engine({"input": x})["output"]
torch.cuda.synchronize()
prof.disable()
wall = time.perf_counter() - t0
text = io.StringIO()
for order in ("tottime", "cumulative"):
    pstats.Stats(prof, stream=text).sort_stats(order).print_stats(45)
open(sys.argv[2], "w").write(text.getvalue())
print({"serial_load_and_first_run_s": wall})
"""


def variant_keys(modules) -> list[dict]:
    """What keys each compiled variant of these kernel modules in Triton's cache (diagnostics)."""
    from tritium.codegen.binaries import _compiled_kernels

    out = []
    for mod in modules:
        for ck in _compiled_kernels(mod):
            src = getattr(ck, "src", None)
            meta = getattr(ck, "metadata", None)
            fn = getattr(src, "fn", None)
            out.append(
                {
                    "name": getattr(meta, "name", "?"),
                    "hash": ck.hash,
                    "fn_key": str(getattr(fn, "cache_key", "?")),
                    "line": getattr(fn, "starting_line_number", "?"),
                    "attrs": str(getattr(src, "attrs", "?")),
                    "signature": str(getattr(src, "signature", "?")),
                    "constants": str(getattr(src, "constants", "?")),
                    "options": str(
                        {
                            k: v
                            for k, v in getattr(meta, "_asdict", dict)().items()
                            if k
                            not in (
                                "name",
                                "hash",
                                "shared",
                                "tmem_size",
                                "global_scratch_size",
                                "global_scratch_align",
                                "profile_scratch_size",
                                "profile_scratch_align",
                            )
                        }
                    )[:600],
                }
            )
    return out


def fresh_process(plan: Path, script_text: str = FIRST_RUN, *extra: str, triton_cache: str = "") -> dict:
    """Load ``plan`` and run it once in a new process with empty Triton and Tritium caches (or the
    Triton cache ``triton_cache``: a restart on a machine where Triton has run the plan before)."""
    env = dict(os.environ)
    env["TRITON_CACHE_DIR"] = triton_cache or tempfile.mkdtemp(prefix="triton-cache-")
    env["TRITIUM_CACHE_DIR"] = tempfile.mkdtemp(prefix="tritium-cache-")
    script = Path(tempfile.mkdtemp()) / "first_run.py"
    script.write_text(script_text)
    out = subprocess.run(
        [sys.executable, str(script), str(plan), *extra], env=env, capture_output=True, text=True
    )
    if out.returncode != 0:
        return {"error": out.stderr[-2000:]}
    return eval(out.stdout.strip().splitlines()[-1])  # our own dict literal


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.reshape(-1).astype(np.float64), b.reshape(-1).astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def main() -> None:
    import torchvision

    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.environ.get("OUT", "."), "bench_runtime.json"))
    ap.add_argument("--cache", default=os.path.join(os.environ.get("OUT", "."), "timing_cache.json"))
    ap.add_argument("--tuning-budget", type=float, default=60.0)
    ap.add_argument("--plan-out", default=None, help="also write the plan (with binaries) here")
    ap.add_argument("--trace-first-run", action="store_true", help="phases of the cached-binary run")
    ap.add_argument(
        "--repeat", type=int, default=3, help="fresh processes for the cached-binary figure (median)"
    )
    ap.add_argument(
        "--profile-first-run",
        default=None,
        help="folder: cProfile tables of a serial load + first run, fresh and restarted (two files)",
    )
    args = ap.parse_args()
    res: dict = {"card": torch.cuda.get_device_name()}
    work = Path(tempfile.mkdtemp())
    model = torchvision.models.resnet50().eval()
    rerandomize(model)
    x = torch.randn(1, 3, 224, 224)
    onnx_path = work / "resnet50.onnx"
    torch.onnx.export(
        model, (x,), str(onnx_path), input_names=["input"], output_names=["output"], dynamo=False
    )

    logger = tr.Logger(tr.Logger.WARNING)
    builder = tr.Builder(logger)
    network = builder.create_network()
    assert tr.OnnxParser(network, logger).parse_from_file(str(onnx_path))
    config = builder.create_builder_config()
    config.set_flag(tr.BuilderFlag.FP16)
    config.set_flag(tr.BuilderFlag.REFIT)
    config.builder_optimization_level = 1
    config.tuning_budget_s = args.tuning_budget
    cache = config.create_timing_cache(Path(args.cache).read_bytes() if Path(args.cache).is_file() else b"")
    config.set_timing_cache(cache, False)
    t0 = time.perf_counter()
    engine = builder.build_engine_with_config(network, config)
    res["build_s"] = time.perf_counter() - t0
    Path(args.cache).write_bytes(cache.serialize())
    xd = x.cuda()
    want = engine({"input": xd})["output"].float().cpu().numpy()
    ref = model(x).detach().numpy()
    res["cosine_vs_fp32_torch"] = cosine(want, ref)

    with_bin, without = work / "with_binaries.plan", work / "without_binaries.plan"
    with_bin.write_bytes(engine.serialize())
    without.write_bytes(engine.serialize(include_binaries=False))
    if args.plan_out:
        Path(args.plan_out).write_bytes(with_bin.read_bytes())
    res["plan_mb_with_binaries"] = with_bin.stat().st_size / 1e6
    res["plan_mb_without_binaries"] = without.stat().st_size / 1e6
    runs = [fresh_process(with_bin) for _ in range(args.repeat)]
    res["load_and_first_run_with_binaries"] = sorted(runs, key=lambda r: r.get("total_s", 1e9))[
        len(runs) // 2
    ]
    res["load_and_first_run_with_binaries_each_s"] = [r.get("total_s") for r in runs]
    res["load_and_first_run_without_binaries"] = fresh_process(without)
    warm = tempfile.mkdtemp(prefix="triton-cache-")
    fresh_process(with_bin, triton_cache=warm)
    res["restart_with_binaries_same_triton_cache"] = fresh_process(with_bin, triton_cache=warm)
    if args.trace_first_run:
        from tritium.codegen.triton_env import loaded_modules

        built = work / "variants.json"
        built.write_text(json.dumps(variant_keys(loaded_modules(list(engine._kernels)).values())))
        here = str(Path(__file__).resolve().parent)
        res["traced_with_binaries"] = fresh_process(with_bin, TRACED_RUN, "0", here, str(built))
    if args.profile_first_run:
        where = Path(args.profile_first_run)
        where.mkdir(parents=True, exist_ok=True)
        res["profiled_fresh"] = fresh_process(with_bin, PROFILED_RUN, str(where / "fresh.txt"))
        res["profiled_restart"] = fresh_process(
            with_bin, PROFILED_RUN, str(where / "restart.txt"), triton_cache=warm
        )
    print(json.dumps(res, indent=1), flush=True)

    # Four contexts, four threads, distinct inputs: each must equal the single-context result.
    inputs = [torch.randn(1, 3, 224, 224, device="cuda") for _ in range(4)]
    single = [engine({"input": t})["output"].clone() for t in inputs]
    errors: list[float] = [0.0] * 4

    def worker(i: int) -> None:
        ctx = engine.create_execution_context()
        for _ in range(20):
            out = ctx.run({"input": inputs[i]})["output"]
            errors[i] = max(errors[i], float((out.float() - single[i].float()).abs().max()))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    res["four_contexts"] = {"max_abs_diff_vs_single": max(errors), "wall_s": time.perf_counter() - t0}

    # Refit every weight with new values (scaled like the old ones); onnxruntime runs the ONNX model
    # carrying the same new weights as the reference.
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    refitter = tr.Refitter(engine, logger)
    names = refitter.get_all_weights()
    rng = np.random.default_rng(1)
    staged = {}
    for n in names:
        cur = refitter.get_named_weights(n)
        if n.endswith("running_var") or "var" in n.split(".")[-1]:
            staged[n] = (np.abs(rng.standard_normal(cur.shape)) + 0.5).astype(cur.dtype)
        else:
            staged[n] = (rng.standard_normal(cur.shape) * float(np.std(cur) or 1.0)).astype(cur.dtype)
    t0 = time.perf_counter()
    for n, a in staged.items():
        refitter.set_named_weights(n, a)
    refitter.refit_cuda_engine()
    res["refit_s"] = time.perf_counter() - t0
    res["refit_weights"] = len(staged)
    t0 = time.perf_counter()
    after = engine({"input": xd})["output"].float().cpu().numpy()
    torch.cuda.synchronize()
    res["first_run_after_refit_s"] = time.perf_counter() - t0
    proto = onnx.load(str(onnx_path))
    for init in proto.graph.initializer:
        if init.name in staged:
            init.CopyFrom(numpy_helper.from_array(staged[init.name], init.name))
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    ort_out = sess.run(None, {"input": x.numpy()})[0]
    res["cosine_after_refit_vs_onnxruntime"] = cosine(after, ort_out)
    res["changed_by_refit"] = float(np.abs(after - want).max())
    print(json.dumps(res, indent=1))
    Path(args.out).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
