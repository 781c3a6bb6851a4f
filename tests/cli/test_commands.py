"""Every trtexec-like command on the CPU: build, inspect (plans), run, bench, compare, opt on ONNX."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from tritium.cli import main


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(1)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.3
    fc = rng.standard_normal((4, 5)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["p"], name="gap"),
        helper.make_node("Flatten", ["p"], ["f"], name="flat"),
        helper.make_node("MatMul", ["f", "fc"], ["y"], name="fc"),
    ]
    graph = helper.make_graph(
        nodes,
        "cli_cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 5])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(fc, "fc")],
    )
    path = tmp_path_factory.mktemp("cli") / "cnn.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    return path


@pytest.fixture(scope="module")
def plan(model: Path) -> Path:
    path = model.with_suffix(".plan")
    rc, out, err = cli("build", "--onnx", model, "--saveEngine", path, "--minShapes", "x:1x3x6x6",
                       "--optShapes", "x:2x3x6x6", "--maxShapes", "x:4x3x6x6", "--timingCacheFile", path.with_suffix(".cache"))  # fmt: skip
    assert rc == 0, err
    assert "built" in out and "saved" in out and path.is_file()
    return path


def ort_run(model: Path, x: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def test_inspect_plan_layers_and_kernels(plan: Path) -> None:
    rc, out, _ = cli("inspect", plan)
    assert rc == 0
    assert "engine:" in out and "profile 0: x [1, 3, 6, 6]..[4, 3, 6, 6] (opt [2, 3, 6, 6])" in out
    assert "generated Triton" in out and "activation memory" in out
    rc, out, _ = cli("inspect", plan, "--json")
    info = json.loads(out)
    assert info["inputs"] == {"x": "tensor<{batch}x3x6x6xf32>"} and info["layers"]
    rc, out, _ = cli("inspect", plan, "--kernel", "all")
    assert rc == 0 and "@triton.jit" in out
    layer = next(layer for layer in info["layers"] if layer["tactic"] == "generated Triton")
    rc, out, _ = cli("inspect", plan, "--kernel", layer["name"])
    assert rc == 0 and out.count("@triton.jit") == 1 and f"def {layer['kernel']}(" in out
    rc, _, err = cli("inspect", plan, "--kernel", "nope")
    assert rc == 1 and "no layer or kernel named 'nope'" in err and layer["kernel"] in err


def test_run_prints_outputs_and_saves_them(plan: Path, model: Path, tmp_path: Path) -> None:
    x = np.random.default_rng(3).standard_normal((3, 3, 6, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    rc, out, err = cli(
        "run",
        "--loadEngine",
        plan,
        "--loadInputs",
        f"x:{tmp_path / 'x.npy'}",
        "--saveOutputs",
        tmp_path / "outs",
    )
    assert rc == 0, err
    assert "output y: [3, 5] float32" in out and "=== Performance summary ===" in out
    np.testing.assert_allclose(np.load(tmp_path / "outs" / "y.npy"), ort_run(model, x), rtol=1e-4, atol=1e-5)
    rc, out, err = cli("run", "--onnx", model, "--shapes", "x:2x3x6x6")
    assert rc == 0 and "output y: [2, 5]" in out, err


def test_bench_summary_and_profiles(plan: Path, tmp_path: Path) -> None:
    rc, out, err = cli("bench", "--loadEngine", plan, "--shapes", "x:4x3x6x6", "--iterations", "3", "--warmUp", "0",
                       "--duration", "0", "--dumpProfile", "--exportProfile", tmp_path / "p.json",
                       "--exportLayerInfo", tmp_path / "l.json")  # fmt: skip
    assert rc == 0, err
    for key in ("Throughput:", "Latency: min =", "percentile(99%)", "Enqueue Time:", "H2D Latency:", "GPU Compute Time:",
                "D2H Latency:", "Iterations: 3", "=== Profile"):  # fmt: skip
        assert key in out
    rows = json.loads((tmp_path / "p.json").read_text())
    assert rows and all(r["median_ms"] >= 0 for r in rows)
    assert json.loads((tmp_path / "l.json").read_text())["layers"]
    rc, _, err = cli(
        "bench", "--loadEngine", plan, "--shapes", "x:8x3x6x6", "--iterations", "1", "--duration", "0"
    )
    assert rc == 1 and "outside optimization profile 0" in err


def test_compare_passes_and_fails_at_tolerances(model: Path) -> None:
    rc, out, _ = cli("compare", model, "--shapes", "x:2x3x6x6")
    assert (
        rc == 0 and "[PASS] tritium   y: max abs" in out and "[PASS] reference y" in out and "PASSED" in out
    )
    rc, out, _ = cli(
        "compare", model, "--shapes", "x:2x3x6x6", "--fp16", "--rtol", "0", "--atol", "0", "--no-reference"
    )
    assert rc == 1 and "[FAIL] tritium" in out and "cosine 0.99" in out


def test_opt_reads_onnx(model: Path) -> None:
    rc, out, _ = cli("opt", model, "-p", "canonicalize,fuse-kernels")
    assert rc == 0 and "kernel.fused" in out and 'loc("conv")' in out


def test_command_errors_are_clear(model: Path, tmp_path: Path) -> None:
    rc, _, err = cli("build", "--onnx", tmp_path / "missing.onnx", "--saveEngine", tmp_path / "m.plan")
    assert rc == 1 and "missing.onnx: no such ONNX file" in err
    rc, _, err = cli("build", "--onnx", model, "--saveEngine", tmp_path / "m.plan", "--shapes", "x:2by3")
    assert rc == 1 and "'x:2by3' is not NAME:DxDx...D" in err
    rc, _, err = cli("run", "--onnx", model)
    assert rc == 1 and "dynamic" in err and "x" in err
    (tmp_path / "bad.plan").write_bytes(b"TRITPLN1" + b"\0" * 10)
    rc, _, err = cli("inspect", tmp_path / "bad.plan")
    assert rc == 1 and "bad.plan" in err
