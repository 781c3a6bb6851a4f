"""Engine, execution contexts, plans: build -> serialize -> deserialize -> run, on the CPU
(generated kernels under Triton's interpreter)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

import tritium as tr
import tritium.ir
from tritium.ir import parse_ir
from tritium.ir.diagnostics import TritiumError

TEXT = """func.func @main(%x: tensor<{b}x16xf32>) -> (tensor<{b}x8xf32>, tensor<{b}x16xf32>) attributes {input_names = ["x"], output_names = ["prob", "act"]} {
  %w = nn.constant dense_resource<fc.weight> : tensor<16x8xf32> loc("fc")
  %b = nn.constant dense_resource<fc.bias> : tensor<8xf32> loc("fc")
  %a = nn.tanh %x : tensor<{b}x16xf32> loc("act")
  %h = nn.matmul %a, %w : (tensor<{b}x16xf32>, tensor<16x8xf32>) -> tensor<{b}x8xf32> loc("fc")
  %hb = nn.add %h, %b : (tensor<{b}x8xf32>, tensor<8xf32>) -> tensor<{b}x8xf32> loc("fc")
  %p = nn.softmax %hb {axis = -1} : tensor<{b}x8xf32> loc("prob")
  func.return %p, %a : tensor<{b}x8xf32>, tensor<{b}x16xf32>
}"""


def module(rng: np.random.Generator):
    m = parse_ir(TEXT)
    m.resources["fc.weight"] = rng.standard_normal((16, 8)).astype(np.float32)
    m.resources["fc.bias"] = rng.standard_normal(8).astype(np.float32)
    return m


def reference(m, x: np.ndarray) -> dict[str, np.ndarray]:
    return tr.compile(m, backend="reference")({"x": x})


def close(a: np.ndarray, b: np.ndarray) -> bool:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b)) < 1e-5


def test_engine_runs_generated_kernels(rng: np.random.Generator) -> None:
    x = rng.standard_normal((3, 16)).astype(np.float32)
    want = reference(module(np.random.default_rng(0)), x)
    engine = tr.compile(module(np.random.default_rng(0)))
    got = engine({"x": x})
    assert close(got["prob"], want["prob"]) and close(got["act"], want["act"])
    info = engine.inspect({"x": (3, 16)})
    assert [layer["tactic"] for layer in info["layers"]] == ["generated Triton"] * 3
    assert (
        info["layers"][1]["fused_ops"] == ["nn.matmul", "nn.add"] and info["layers"][1]["template"] == "gemm"
    )
    assert engine.num_io_tensors == 3 and engine.get_tensor_mode("prob") == tr.TensorIOMode.OUTPUT
    assert engine.get_tensor_shape("x") == (-1, 16) and engine.get_tensor_dtype("x") == tr.DataType.FLOAT


def test_plan_roundtrip(tmp_path: Path, rng: np.random.Generator) -> None:
    engine = tr.compile(module(rng))
    x = rng.standard_normal((2, 16)).astype(np.float32)
    before = engine({"x": x})
    engine.save(str(tmp_path / "m.plan"))
    for loaded in (
        tr.load(str(tmp_path / "m.plan")),
        tr.Runtime(tr.Logger()).deserialize_cuda_engine(engine.serialize()),
    ):
        after = loaded({"x": x})
        np.testing.assert_array_equal(after["prob"], before["prob"])
        assert loaded.manifest["build"]["flags"]["opt_level"] == 2


def test_plan_records_its_kernel_switches(
    tmp_path: Path,
    rng: np.random.Generator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A plan records the kernel switches in effect at its build; loaded under others it says which
    (its kernels then form differently from the tuned ones), and loaded under the same it says
    nothing. Constant sizes are recorded resolved: the default spelt out is the same switch, and a
    plan from before they were recorded (none recorded) is not."""
    monkeypatch.setenv("TRITIUM_CONSTEXPR_SIZES", "gemm")
    engine = tr.compile(module(rng))
    assert engine.manifest["build"]["switches"] == {"TRITIUM_CONSTEXPR_SIZES": "gemm"}
    engine.save(str(tmp_path / "m.plan"))
    with caplog.at_level("WARNING", logger="tritium"):
        tr.load(str(tmp_path / "m.plan"))
    assert "kernel switches" not in caplog.text
    monkeypatch.delenv("TRITIUM_CONSTEXPR_SIZES")
    with caplog.at_level("WARNING", logger="tritium"):
        loaded = tr.load(str(tmp_path / "m.plan"))
    assert (
        "built with kernel switches {'TRITIUM_CONSTEXPR_SIZES': 'gemm'} and loads with "
        "{'TRITIUM_CONSTEXPR_SIZES': 'attention'}" in caplog.text
    )
    x = rng.standard_normal((2, 16)).astype(np.float32)
    assert close(loaded({"x": x})["prob"], engine({"x": x})["prob"])

    caplog.clear()
    default = tr.compile(module(rng))  # unset: the default families
    assert default.manifest["build"]["switches"] == {"TRITIUM_CONSTEXPR_SIZES": "attention"}
    default.save(str(tmp_path / "d.plan"))
    monkeypatch.setenv("TRITIUM_CONSTEXPR_SIZES", "attention")
    with caplog.at_level("WARNING", logger="tritium"):
        tr.load(str(tmp_path / "d.plan"))
    assert "kernel switches" not in caplog.text
    default.manifest["build"]["switches"] = {}  # as a plan built before the default recorded
    default.save(str(tmp_path / "old.plan"))
    with caplog.at_level("WARNING", logger="tritium"):
        tr.load(str(tmp_path / "old.plan"))
    assert "built with kernel switches (none recorded) and loads with" in caplog.text


def test_damaged_plans_give_clear_errors(tmp_path: Path, rng: np.random.Generator) -> None:
    data = tr.compile(module(rng)).serialize()
    runtime = tr.Runtime(tr.Logger())
    hlen = int.from_bytes(data[8:16], "little")
    start = 16 + hlen + (-(16 + hlen)) % 64
    cases = {
        "truncated": (data[: len(data) // 2], "truncated"),
        "empty": (b"", "truncated"),
        "flipped weight": (
            data[: start + 5] + bytes([data[start + 5] ^ 1]) + data[start + 6 :],
            "checksum mismatch",
        ),
        "foreign": (b"\x08\x07\x12\x04onnx" + data[10:], "not a Tritium plan"),
        "header": (data[:16] + b"#" + data[17:], "corrupted header"),
        "newer": (data.replace(b'"plan_version":1', b'"plan_version":9'), "plan format 9 is newer"),
    }
    for name, (blob, message) in cases.items():
        with pytest.raises(tr.PlanError, match=message):
            runtime.deserialize_cuda_engine(blob)
        (tmp_path / f"{name.replace(' ', '_')}.plan").write_bytes(blob)
        with pytest.raises(tr.PlanError):
            tr.load(str(tmp_path / f"{name.replace(' ', '_')}.plan"))


def test_contexts_in_threads(rng: np.random.Generator) -> None:
    engine = tr.compile(module(rng))
    xs = [rng.standard_normal((n, 16)).astype(np.float32) for n in (1, 2, 3, 4)]
    want = [engine({"x": x}) for x in xs]
    results: dict[int, dict] = {}

    def work(i: int) -> None:
        ctx = engine.create_execution_context()
        for _ in range(3):
            results[i] = ctx.run({"x": xs[i]})

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        np.testing.assert_array_equal(results[i]["prob"], want[i]["prob"])
    assert len(engine.weights) == 2  # weights held once, whatever the number of contexts and shapes


def test_tensor_addresses_and_user_memory(rng: np.random.Generator) -> None:
    engine = tr.compile(module(rng))
    x = torch.from_numpy(rng.standard_normal((5, 16)).astype(np.float32))
    prob, act = torch.empty(5, 8), torch.empty(5, 16)
    ctx = engine.create_execution_context_without_device_memory()
    ctx.set_input_shape("x", (5, 16))
    assert ctx.get_tensor_shape("prob") == (5, 8)
    arena = torch.empty(ctx.device_memory_size, dtype=torch.uint8)
    ctx.set_device_memory(arena)
    ctx.set_tensor_address("x", x.data_ptr())  # raw pointers, as with TensorRT
    ctx.set_tensor_address("prob", prob.data_ptr())
    ctx.set_tensor_address("act", act)
    assert ctx.execute_async_v3(0)
    want = engine({"x": x.numpy()})
    np.testing.assert_allclose(prob.numpy(), want["prob"], rtol=1e-6)
    np.testing.assert_allclose(act.numpy(), want["act"], rtol=1e-6)


def test_bound_tensor_of_another_dtype_or_layout_is_refused(rng: np.random.Generator) -> None:
    """A bound torch tensor is read and written as the engine's type, contiguously: a float64 or a
    transposed one is an error naming the tensor, not silently wrong bytes."""
    engine = tr.compile(module(rng))
    ctx = engine.create_execution_context()
    ctx.set_input_shape("x", (5, 16))
    ctx.set_tensor_address("prob", torch.empty(5, 8))
    ctx.set_tensor_address("act", torch.empty(5, 16))
    for bad, what in (
        (torch.zeros(5, 16, dtype=torch.float64), "torch.float64"),
        (torch.zeros(16, 5).t(), "non-contiguous"),
    ):
        ctx.set_tensor_address("x", bad)
        with pytest.raises(TritiumError, match=f"tensor 'x' is bound to a {what}"):
            ctx.execute_async_v3(0)


def test_profiler_and_errors(rng: np.random.Generator) -> None:
    engine = tr.compile(module(rng))
    ctx = engine.create_execution_context()
    seen: list[str] = []

    class P(tr.IProfiler):
        def report_layer_time(self, layer_name: str, ms: float) -> None:
            assert ms >= 0
            seen.append(layer_name)

    ctx.profiler = P()
    ctx.run({"x": rng.standard_normal((2, 16)).astype(np.float32)})
    assert seen == ["act", "fc", "prob"]
    table = ctx.profile({"x": rng.standard_normal((2, 16)).astype(np.float32)}, iterations=2)
    assert {r["layer"] for r in table} == {"act", "fc", "prob"} and abs(
        sum(r["percent"] for r in table) - 100
    ) < 1e-6
    with pytest.raises(tr.ir.TritiumError, match="should have element type f32"):
        ctx.run({"x": np.zeros((2, 16), np.float64)})
    with pytest.raises(tr.ir.TritiumError, match="does not fit"):
        ctx.set_input_shape("x", (2, 15))


def test_triton_imported_first_without_a_gpu_is_a_clear_error(tmp_path) -> None:
    """Without a GPU, Triton must be imported in interpreter mode; when another library imported it
    first, running a kernel says what happened and how to fix it (not a failure inside the kernel)."""
    import os
    import subprocess
    import sys

    import torch

    if torch.cuda.is_available():
        pytest.skip("on a GPU, Triton runs compiled kernels whoever imports it first")
    code = (
        "import triton.language\n"
        "import numpy as np, tritium as tr, tritium.ir as ir\n"
        "m = ir.parse_ir('func.func @main(%x: tensor<8xf32>) -> tensor<8xf32> {\\n"
        "  %y = nn.relu %x : tensor<8xf32>\\n  func.return %y : tensor<8xf32>\\n}')\n"
        "tr.compile(m)({'x': np.ones(8, np.float32)})\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITIUM_CACHE_DIR"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode != 0
    assert "set TRITON_INTERPRET=1 in the environment" in out.stderr, out.stderr[-2000:]


def test_loaded_plan_holds_weights_as_the_build_did(tmp_path: Path, rng: np.random.Generator) -> None:
    """A weight folded from a transpose (ONNX Gemm with transB=1) is a transposed numpy view at build
    time and row-major bytes in the plan; on the device both engines hold it alike (layouts select
    compiled kernel variants: a mismatch would recompile on load) and compute alike."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = rng.standard_normal((24, 40)).astype(np.float32)  # (N, K), read transposed
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)],
        "fc",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 40])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 24])],
        [numpy_helper.from_array(w, "w")],
    )
    path = tmp_path / "fc.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    built = tr.compile(str(path))
    built.save(str(tmp_path / "fc.plan"))
    loaded = tr.load(str(tmp_path / "fc.plan"))

    def layouts(engine) -> list[tuple]:
        prog = engine.program({"x": (3, 40)})
        return sorted((tuple(t.shape), tuple(t.stride())) for t in prog.constants.values())

    assert layouts(built) == layouts(loaded) == [((40, 24), (24, 1))]
    x = rng.standard_normal((3, 40)).astype(np.float32)
    want = x.astype(np.float64) @ w.T.astype(np.float64)
    for engine in (built, loaded):
        got = np.asarray(engine({"x": x})["y"], dtype=np.float64)
        assert np.abs(got - want).max() / np.abs(want).max() < 1e-5


POST_NORM = """func.func @main(%x: tensor<2x5x24xf16>, %r: tensor<2x5x40xf16>) -> tensor<2x5x40xf16> attributes {input_names = ["x", "r"], output_names = ["y"]} {
  %w = nn.constant dense_resource<w> : tensor<24x40xf16> loc("dense")
  %b = nn.constant dense_resource<b> : tensor<40xf16> loc("dense")
  %g = nn.constant dense_resource<g> : tensor<40xf16> loc("norm")
  %be = nn.constant dense_resource<be> : tensor<40xf16> loc("norm")
  %p = nn.matmul %x, %w : (tensor<2x5x24xf16>, tensor<24x40xf16>) -> tensor<2x5x40xf16> loc("dense")
  %pb = nn.add %p, %b : (tensor<2x5x40xf16>, tensor<40xf16>) -> tensor<2x5x40xf16> loc("bias")
  %s = nn.add %pb, %r : tensor<2x5x40xf16> loc("residual")
  %y, %m, %v = nn.layer_normalization %s, %g, %be {axis = -1, epsilon = 1.0e-05} : (tensor<2x5x40xf16>, tensor<40xf16>, tensor<40xf16>) -> (tensor<2x5x40xf16>, tensor<2x5x1xf32>, tensor<2x5x1xf32>) loc("norm")
  func.return %y : tensor<2x5x40xf16>
}"""


@pytest.mark.parametrize("norm_prologue", ["1", "0"])
def test_post_norm_block_runs_its_adds_in_the_norm(
    norm_prologue: str, monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator
) -> None:
    """BERT's LayerNorm(x @ W + b + residual) in float16: by default the GEMM stores the bare product
    and the norm kernel adds the bias and the residual as it loads it (TRITIUM_NORM_PROLOGUE=0: the
    adds in the GEMM's epilogue). Either way the result is the reference's."""
    monkeypatch.setenv("TRITIUM_NORM_PROLOGUE", norm_prologue)
    m = parse_ir(POST_NORM)
    for name, shape in {"w": (24, 40), "b": (40,), "g": (40,), "be": (40,)}.items():
        m.resources[name] = (rng.standard_normal(shape) / 4).astype(np.float16)
    x = rng.standard_normal((2, 5, 24)).astype(np.float16)
    r = rng.standard_normal((2, 5, 40)).astype(np.float16)
    want = tr.compile(m, backend="reference")({"x": x, "r": r})["y"].astype(np.float32)
    engine = tr.compile(m)
    got = engine({"x": x, "r": r})["y"].astype(np.float32)
    assert np.abs(got - want).max() < 1e-2, np.abs(got - want).max()
    layers = engine.inspect({"x": (2, 5, 24), "r": (2, 5, 40)})["layers"]
    assert {layer["tactic"] for layer in layers} == {"generated Triton"}
    fused = [[o for o in layer["fused_ops"] if o != "nn.constant"] for layer in layers]
    if norm_prologue == "1":
        assert fused == [["nn.matmul"], ["nn.add", "nn.add", "nn.layer_normalization"]]
    else:
        assert fused == [["nn.matmul", "nn.add", "nn.add"], ["nn.layer_normalization"]]
