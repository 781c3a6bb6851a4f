"""The ONNX doors: tritium.compile, the TensorRT-style OnnxParser, and `tritium inspect`."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

import tritium as tr
from tritium.cli import main


def small_model(op: str = "Relu", weight: np.ndarray | None = None) -> onnx.ModelProto:
    w = weight if weight is not None else np.arange(12, dtype=np.float32).reshape(3, 4) / 10
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
        helper.make_node(op, ["h"], ["y"], name="act"),
    ]
    graph = helper.make_graph(
        nodes,
        "small",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [onnx.numpy_helper.from_array(w, "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("backend", ["reference", "triton"])
def test_compile_runs_numpy_and_torch(backend: str, rng: np.random.Generator, tmp_path: Path) -> None:
    model = small_model()
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    w = np.arange(12, dtype=np.float32).reshape(3, 4) / 10
    for source in (str(path), model.SerializeToString(), model):
        engine = tr.compile(source, backend=backend)
        out = engine({"x": x})
        np.testing.assert_allclose(out["y"], np.maximum(x @ w, 0), rtol=1e-6)
    t = engine({"x": torch.from_numpy(x)})["y"]
    assert isinstance(t, torch.Tensor)
    np.testing.assert_allclose(t.cpu().numpy(), np.maximum(x @ w, 0), rtol=1e-6)
    assert engine.input_names == ["x"] and engine.output_names == ["y"]


def test_weights_are_named_resources() -> None:
    engine = tr.compile(small_model(), backend="reference")
    assert "w" in engine.module.resources  # addressable by the ONNX initializer name (refit)
    from tritium.ir import print_ir

    assert "dense_resource<w>" in print_ir(engine.module)


def test_parser_reports_each_unsupported_node() -> None:
    model = small_model(op="NoSuchOp")
    logger = tr.Logger(tr.Logger.INTERNAL_ERROR)
    network = tr.Builder(logger).create_network()
    parser = tr.OnnxParser(network, logger)
    assert not parser.parse(model.SerializeToString())
    assert parser.num_errors == 1
    err = parser.get_error(0)
    assert err.node() == 1 and err.node_name() == "act" and err.node_operator() == "NoSuchOp"
    assert "not supported" in err.desc() and err.code() == tr.ErrorCode.UNSUPPORTED_NODE


def test_parser_success_fills_the_network(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    onnx.save(small_model(), path)
    logger = tr.Logger(tr.Logger.INTERNAL_ERROR)
    network = tr.Builder(logger).create_network()
    parser = tr.OnnxParser(network, logger)
    assert parser.parse_from_file(path)
    assert parser.num_errors == 0
    assert (
        network.num_inputs == 1 and network.get_input(0).name == "x" and network.get_input(0).shape == (-1, 3)
    )
    assert network.num_outputs == 1 and network.get_output(0).name == "y"
    assert [layer.op_type for layer in network.layers] == ["nn.matmul", "nn.relu"]
    assert [layer.type for layer in network.layers] == [tr.LayerType.MATRIX_MULTIPLY, tr.LayerType.ACTIVATION]
    assert network.get_layer(1).name == "act" and network.get_input(0).dtype == tr.DataType.FLOAT
    assert parser.supports_operator("Conv") and not parser.supports_operator("NoSuchOp")


def test_parser_rejects_garbage_clearly() -> None:
    logger = tr.Logger(tr.Logger.INTERNAL_ERROR)
    parser = tr.OnnxParser(tr.Builder(logger).create_network(), logger)
    assert not parser.parse(b"\x08\x07 this is not a model")
    assert parser.get_error(0).code() == tr.ErrorCode.MODEL_DESERIALIZE_FAILED
    assert "not an ONNX model" in parser.get_error(0).desc()


def test_logger_routes_to_python_logging(caplog: pytest.LogCaptureFixture) -> None:
    class Capture(tr.Logger):
        def __init__(self) -> None:
            super().__init__(tr.Logger.VERBOSE)
            self.seen: list[tuple[int, str]] = []

        def log(self, severity, msg):  # type: ignore[no-untyped-def]
            self.seen.append((severity, msg))

    lg = Capture()
    with caplog.at_level("WARNING", logger="tritium"):
        lg.warning("careful")
        lg.verbose("detail")
    assert lg.seen == [(tr.Logger.WARNING, "careful"), (tr.Logger.VERBOSE, "detail")]
    assert [r.message for r in caplog.records] == ["careful"]


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        rc = main(list(argv))
    return rc, out.getvalue()


def test_inspect_onnx(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    onnx.save(small_model(op="NoSuchOp"), path)
    rc, text = run_cli("inspect", str(path))
    assert rc == 0
    assert "x: tensor<{batch}x3xf32>" in text and "y: tensor<{batch}x4xf32>" in text
    assert "MatMul  supported" in text and "NoSuchOp  NOT SUPPORTED" in text
    assert "import: 1 node(s) fail" in text
    rc, text = run_cli("inspect", str(path), "--json")
    info = json.loads(text)
    assert info["opsets"] == {"ai.onnx": 17} and info["weight_bytes"] == 48
    assert {o["op"]: o["supported"] for o in info["ops"]} == {"MatMul": True, "NoSuchOp": False}


def test_inspect_tir(tmp_path: Path) -> None:
    engine = tr.compile(small_model(), backend="reference")
    from tritium.ir import save_module

    save_module(engine.module, tmp_path / "m.tir")
    rc, text = run_cli("inspect", str(tmp_path / "m.tir"))
    assert rc == 0 and "nn.matmul" in text and "weights: 1 tensors" in text


def test_narrow_io_takes_and_gives_half_precision(rng: np.random.Generator) -> None:
    """narrow_io: the engine's float32 input and output become f16 (TensorRT's FP16 I/O formats):
    an f16 tensor in, an f16 tensor out, as close to float32 as the f16 build; float32 input is
    refused with the expected type named; without fp16/bf16 the option is an error."""
    model = small_model("Sigmoid")
    engine = tr.compile(model, fp16=True, narrow_io=True)
    assert engine.get_tensor_dtype("x") == tr.float16 and engine.get_tensor_dtype("y") == tr.float16
    x = rng.standard_normal((5, 3)).astype(np.float32)
    got = engine({"x": torch.from_numpy(x).half()})["y"]
    assert got.dtype == torch.float16
    want = tr.compile(model)({"x": x})["y"]
    np.testing.assert_allclose(got.float().numpy(), want, rtol=2e-3, atol=2e-3)
    layers = engine.inspect({"x": (5, 3)})["layers"]
    wide = tr.compile(model, fp16=True).inspect({"x": (5, 3)})["layers"]  # a cast kernel narrows x there
    assert [la["template"] for la in layers] == ["gemm"] and len(wide) == 2
    from tritium.ir.diagnostics import TritiumError

    with pytest.raises(TritiumError, match="'x' should have element type f16"):
        engine({"x": x})
    with pytest.raises(TritiumError, match="narrow_io=True needs fp16=True or bf16=True"):
        tr.compile(model, narrow_io=True)
