"""Every generated kernel family, in every form and config that a default build's tuning may time,
compiles for an H100 (sm_90) on this machine without a GPU with the installed Triton, and fits the
card's shared memory (``tests/codegen/hopper.py``: Triton's compiler down to a cubin, launches left
out). The interpreter that runs the other tests does not compile kernels; this sees what only the
compiler rejects."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.codegen.hopper import MODELS, UNCOMPILABLE, ir_cases

ROOT = Path(__file__).resolve().parents[2]


def compile_check(*args: str, sizes: str = "") -> list[dict[str, Any]]:
    """``python -m tests.codegen.hopper *args`` in a process without Triton's interpreter."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITIUM_CONSTEXPR_SIZES"] = sizes
    done = subprocess.run(
        [sys.executable, "-m", "tests.codegen.hopper", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def check_results(results: list[dict[str, Any]], cases: list[str]) -> set[str]:
    """Each case compiled every kernel's configs, none failed or asked for too much shared memory;
    the kernels' names."""
    assert [r["case"] for r in results] == cases
    for r in results:
        assert not r["failures"], (r["case"], r["failures"][:5])
        assert not r["over_shared"], (r["case"], r["over_shared"][:5])
        assert r["compiled"] > r["kernels"] > 0, r
    return {n for r in results for n in r["names"]}


def test_models_and_templates_compile_for_hopper() -> None:
    """ResNet, MobileNetV2, BERT and GPT-2 (the zoo's small ones, FP16) at tuning level 2, and the
    GEMM (every Hopper form: TMA, persistent, stream-K), int8 and float 8 GEMMs, the GEMM chain, a
    3x3 convolution and causal attention at head size 128 at level 3."""
    cases = [*MODELS, *ir_cases()]
    results = compile_check()
    names = check_results(results, cases)
    # 128 query rows of a 128-wide head on 4 warps spilled; its space now runs them on 8
    (attention,) = [r for r in results if r["case"] == "attention-d128-causal"]
    assert not attention["spills"], attention["spills"]
    # by default attention's sizes are constants where shapes are static (this IR case), not in the
    # zoo's models (dynamic batch and sequence: a binary per shape), so both forms compile here
    assert attention["constant_sizes"] and not any(
        r["constant_sizes"] for r in results if r["case"] in MODELS
    )
    for form in ("_tma", "_persistent", "_streamk"):
        assert any(n.endswith(form) for n in names), (form, sorted(names))
    families = ("attention", "conv_relu_tma", "max_pool", "layer_normalization", "reduce_mean")
    for family in (*families, "matmul_integer_cast_mul_relu_tma", "matmul_float8_relu_mul_relu_tma"):
        assert family in names, (family, sorted(names))
    assert any(n.count("matmul") == 2 for n in names), sorted(names)  # a chain of two GEMMs
    if "flash_attention_hopper" not in names:  # the hand-written Hopper attention, where Gluon is
        import importlib.util

        assert importlib.util.find_spec("triton.experimental.gluon") is None, sorted(names)


def test_constant_sizes_compile_for_hopper() -> None:
    """The templates with their sizes as compile-time constants (``TRITIUM_CONSTEXPR_SIZES=all``)."""
    cases = list(ir_cases())
    results = compile_check(*cases, sizes="all")
    check_results(results, cases)
    assert all(r["constant_sizes"] for r in results), [(r["case"], r["constant_sizes"]) for r in results]
    assert not any(r["constant_sizes"] for r in compile_check(*cases[:2]))  # (GEMMs: none by default)


INTERPRETED = f"""
import torch
from tritium.codegen.triton_env import load_source

kernel = load_source({UNCOMPILABLE!r}, "loop_type_change").loop_type_change
y = torch.empty(1)
kernel[(1,)](torch.ones(4), y, 4)
print(float(y))
"""


def test_the_check_fails_where_the_interpreter_runs() -> None:
    """A kernel that Triton's interpreter runs (in a process of its own, as this one may have a GPU)
    and its compiler rejects fails the check."""
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    ran = subprocess.run(
        [sys.executable, "-c", INTERPRETED], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert ran.returncode == 0 and ran.stdout.split()[-1] == "4.0", ran.stderr[-2000:]
    (result,) = compile_check("--uncompilable")
    assert "Loop-carried variable acc has initial type int32" in result["error"], result
