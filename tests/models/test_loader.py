"""The ONNX loader (compiler/frontends/onnx/proto.py): model files are memory-mapped and their large
raw_data payloads viewed in place, never copied; everything else reads as ``onnx.load`` reads it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import tritium
from tests.models import bench_loader
from tritium.frontends.onnx import OnnxFormatError
from tritium.frontends.onnx.proto import MIN_VIEW_BYTES, is_mapped, load_model, tensor_to_array


def _weights(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "w_raw": rng.standard_normal((16, 32)).astype(np.float32),  # 2 KB of raw_data: mapped
        "b_small": rng.standard_normal(32).astype(np.float32),  # 128 B: stays in the proto
        "w_typed": rng.standard_normal((32, 16)).astype(np.float32),  # float_data: copied
        "c_const": rng.standard_normal((32, 32)).astype(np.float32),  # a Constant node's attribute
        "g_sub": rng.standard_normal((16, 16)).astype(np.float32),  # initializer inside an If branch
        "h_half": rng.standard_normal((16, 64)).astype(np.float16),  # f16 raw_data: mapped
        "i_typed": rng.integers(-5, 5, 300).astype(np.int64),  # int64_data: copied
        "d_double": rng.standard_normal(200),  # f64 raw_data: mapped
    }


def _model(w: dict[str, np.ndarray]) -> onnx.ModelProto:
    """x[2,16] -> MatMul(w_raw) + b_small -> MatMul(c_const) -> MatMul(w_typed) -> If(cond) of
    MatMul(g_sub) or Identity; other tensors are just graph outputs."""
    typed = helper.make_tensor(
        "w_typed", TensorProto.FLOAT, w["w_typed"].shape, w["w_typed"].ravel().tolist()
    )
    assert not typed.HasField("raw_data") and len(typed.float_data) == w["w_typed"].size
    itensor = helper.make_tensor("i_typed", TensorProto.INT64, w["i_typed"].shape, w["i_typed"].tolist())
    inits = [
        numpy_helper.from_array(w["w_raw"], "w_raw"),
        numpy_helper.from_array(w["b_small"], "b_small"),
        typed,
        numpy_helper.from_array(w["h_half"], "h_half"),
        itensor,
        numpy_helper.from_array(w["d_double"], "d_double"),
    ]
    then_g = helper.make_graph(
        [helper.make_node("MatMul", ["z", "g_sub"], ["r_then"])],
        "then",
        [],
        [helper.make_tensor_value_info("r_then", TensorProto.FLOAT, [2, 16])],
        [numpy_helper.from_array(w["g_sub"], "g_sub")],
    )
    else_g = helper.make_graph(
        [helper.make_node("Identity", ["z"], ["r_else"])],
        "else",
        [],
        [helper.make_tensor_value_info("r_else", TensorProto.FLOAT, [2, 16])],
    )
    nodes = [
        helper.make_node("MatMul", ["x", "w_raw"], ["y0"]),
        helper.make_node("Add", ["y0", "b_small"], ["y1"]),
        helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(w["c_const"], "c_const")),
        helper.make_node("MatMul", ["y1", "c"], ["y2"]),
        helper.make_node("MatMul", ["y2", "w_typed"], ["z"]),
        helper.make_node("If", ["cond"], ["out"], then_branch=then_g, else_branch=else_g),
        helper.make_node("Identity", ["h_half"], ["h_out"]),
        helper.make_node("Identity", ["i_typed"], ["i_out"]),
        helper.make_node("Identity", ["d_double"], ["d_out"]),
    ]
    graph = helper.make_graph(
        nodes,
        "loader_test",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 16]),
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
        ],
        [
            helper.make_tensor_value_info("out", TensorProto.FLOAT, [2, 16]),
            helper.make_tensor_value_info("h_out", TensorProto.FLOAT16, [16, 64]),
            helper.make_tensor_value_info("i_out", TensorProto.INT64, [300]),
            helper.make_tensor_value_info("d_out", TensorProto.DOUBLE, [200]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _expected(w: dict[str, np.ndarray], x: np.ndarray, cond: bool) -> dict[str, np.ndarray]:
    z = ((x @ w["w_raw"] + w["b_small"]) @ w["c_const"]) @ w["w_typed"]
    return {
        "out": z @ w["g_sub"] if cond else z,
        "h_out": w["h_half"],
        "i_out": w["i_typed"],
        "d_out": w["d_double"],
    }


def _all_tensors(g: onnx.GraphProto) -> dict[str, TensorProto]:
    """Every tensor of a graph by name: initializers and tensor attributes, subgraphs included."""
    out = {t.name: t for t in g.initializer}
    for n in g.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                out[a.t.name] = a.t
            for sub in [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs):
                out.update(_all_tensors(sub))
    return out


@pytest.fixture
def weights(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return _weights(rng)


@pytest.fixture
def model_file(tmp_path: Path, weights: dict[str, np.ndarray]) -> Path:
    path = tmp_path / "m.onnx"
    onnx.save_model(_model(weights), str(path))
    return path


def test_file_payloads_are_mapped_views(model_file: Path, weights: dict[str, np.ndarray]) -> None:
    proto, base = load_model(model_file)
    assert base == model_file.absolute().parent
    tensors = _all_tensors(proto.graph)
    assert set(tensors) == set(weights)
    mapped = {name for name, t in tensors.items() if is_mapped(t)}
    # Exactly the raw_data payloads of at least MIN_VIEW_BYTES, wherever they sit in the graph.
    assert mapped == {"w_raw", "c_const", "g_sub", "h_half", "d_double"}
    assert all(weights[n].nbytes >= MIN_VIEW_BYTES for n in mapped)
    assert all(not t.raw_data for t in tensors.values() if is_mapped(t))
    for name, t in tensors.items():
        arr = tensor_to_array(t, base)
        assert arr.dtype == weights[name].dtype and arr.shape == weights[name].shape, name
        np.testing.assert_array_equal(arr, weights[name], err_msg=name)
        if name in mapped:
            assert not arr.flags.writeable and not arr.flags.owndata, name


def test_rest_of_proto_is_what_onnx_reads(model_file: Path) -> None:
    """Apart from where mapped payloads live, the proto equals onnx.load's, field for field."""
    ours, _ = load_model(model_file)
    theirs = onnx.load_model(str(model_file))
    for p in (ours, theirs):
        for t in _all_tensors(p.graph).values():
            if is_mapped(t) or t.HasField("raw_data"):
                t.ClearField("raw_data")
                t.ClearField("data_location")
                del t.external_data[:]
    assert ours.SerializeToString(deterministic=True) == theirs.SerializeToString(deterministic=True)


@pytest.mark.parametrize("form", ["path", "str", "bytes", "proto", "external"])
def test_model_runs_from_every_input_form(
    form: str, model_file: Path, weights: dict[str, np.ndarray], rng: np.random.Generator, tmp_path: Path
) -> None:
    if form == "path":
        model: object = model_file
    elif form == "str":
        model = str(model_file)
    elif form == "bytes":
        model = model_file.read_bytes()
    elif form == "proto":
        model = onnx.load_model(str(model_file))
    else:  # weights in a separate data file, as onnx writes it
        model = tmp_path / "ext" / "m.onnx"
        model.parent.mkdir()
        onnx.save_model(
            onnx.load_model(str(model_file)),
            str(model),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location="m.data",
            size_threshold=256,
        )
        assert (model.parent / "m.data").stat().st_size > 0
    engine = tritium.compile(model, backend="reference")
    x = rng.standard_normal((2, 16)).astype(np.float32)
    for cond in (True, False):
        got = engine({"x": x, "cond": np.array(cond)})
        for name, want in _expected(weights, x, cond).items():
            assert got[name].dtype == want.dtype, name
            np.testing.assert_allclose(got[name], want, rtol=1e-5, atol=1e-5, err_msg=f"{form} {name}")


def test_external_data_tensors_are_views(
    model_file: Path, weights: dict[str, np.ndarray], tmp_path: Path
) -> None:
    path = tmp_path / "m_ext.onnx"
    onnx.save_model(
        onnx.load_model(str(model_file)),
        str(path),
        save_as_external_data=True,
        location="m_ext.data",
        size_threshold=256,
    )
    proto, base = load_model(path)
    arrays = {t.name: tensor_to_array(t, base) for t in proto.graph.initializer}
    w = arrays["w_raw"]
    assert proto.graph.initializer[0].data_location == TensorProto.EXTERNAL
    assert not is_mapped(proto.graph.initializer[0])  # onnx's external data, not ours
    assert not w.flags.writeable and not w.flags.owndata
    np.testing.assert_array_equal(w, weights["w_raw"])
    np.testing.assert_array_equal(arrays["d_double"], weights["d_double"])


def test_file_replaced_after_loading_is_an_error(model_file: Path, weights: dict[str, np.ndarray]) -> None:
    proto, base = load_model(model_file)
    t = proto.graph.initializer[0]
    assert is_mapped(t)
    kept = tensor_to_array(t, base)  # a view taken before the file changes stays valid
    other = {k: v + 1 for k, v in weights.items()}
    tmp = model_file.with_suffix(".new")
    onnx.save_model(_model(other), str(tmp))
    os.replace(tmp, model_file)
    np.testing.assert_array_equal(kept, weights["w_raw"])
    del kept
    with pytest.raises(OnnxFormatError, match="changed after the model was loaded"):
        tensor_to_array(t, base)
    fresh, base = load_model(model_file)
    np.testing.assert_array_equal(tensor_to_array(fresh.graph.initializer[0], base), other["w_raw"])


def test_views_share_one_mapping(model_file: Path) -> None:
    proto, base = load_model(model_file)
    a, b = [tensor_to_array(t, base) for t in proto.graph.initializer if is_mapped(t)][:2]

    def root(x: np.ndarray) -> object:
        while isinstance(x, np.ndarray) and x.base is not None:
            x = x.base
        return x.obj if isinstance(x, memoryview) else x

    assert root(a) is root(b)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty_dir"])
def test_unreadable_files_are_format_errors(damage: str, model_file: Path, tmp_path: Path) -> None:
    data = model_file.read_bytes()
    bad = tmp_path / "bad.onnx"
    if damage == "garbage":
        bad.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8)))
    elif damage == "truncated":  # cut inside a mapped payload
        bad.write_bytes(data[: len(data) - 300])
    else:
        bad.mkdir()
    with pytest.raises(OnnxFormatError, match="bad.onnx"):
        tritium.compile(bad, backend="reference")


def test_tensor_with_wrong_payload_size_is_reported(tmp_path: Path) -> None:
    t = numpy_helper.from_array(np.zeros((64, 64), np.float32), "w")
    t.dims[0] = 65  # the payload no longer fits the shape: not mapped, reported when read
    graph = helper.make_graph(
        [helper.make_node("Identity", ["w"], ["y"])],
        "g",
        [],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [65, 64])],
        [t],
    )
    path = tmp_path / "w.onnx"
    onnx.save_model(helper.make_model(graph), str(path))
    proto, base = load_model(path)
    assert not is_mapped(proto.graph.initializer[0])
    with pytest.raises(OnnxFormatError, match="holds 4096 values for shape"):
        tensor_to_array(proto.graph.initializer[0], base)


# ---------------------------------------------------------------------------------------------------
# Memory: a 64 MB model loads in a fraction of its size


_MEASURE = r"""
import json, sys, time
from tritium.frontends.onnx.proto import load_model, tensor_to_array
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
base = hwm()
t0 = time.perf_counter()
proto, folder = load_model(sys.argv[1])
arrays = [tensor_to_array(t, folder) for t in proto.graph.initializer]
print(json.dumps({"seconds": time.perf_counter() - t0, "base": base, "peak": hwm(),
                  "nbytes": sum(a.nbytes for a in arrays)}))
"""


def test_loading_costs_a_fraction_of_the_weights(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((512, 2048), np.float32), f"w{i}") for i in range(16)
    ]
    graph = helper.make_graph(
        [helper.make_node("Sum", [t.name for t in inits], ["y"])],
        "big",
        [],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [512, 2048])],
        inits,
    )
    path = tmp_path / "big.onnx"
    onnx.save_model(helper.make_model(graph), str(path))
    del inits, graph
    size = path.stat().st_size
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path)], capture_output=True, text=True, check=True
    )
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{size / 1e6:.0f} MB file: {r['seconds']:.3f} s, peak RSS +{(r['peak'] - r['base']) / 1e6:.1f} MB")
    assert r["nbytes"] == 16 * 512 * 2048 * 4
    assert r["peak"] - r["base"] < 0.25 * size  # onnx.load_model alone needs about 2x


@pytest.mark.slow
def test_bert_base_loads_fast_and_lean() -> None:
    """The issue's target on BERT-base (HF BertModel, default config, 438 MB of weights inline): parse
    and import in under 5 s, peak RSS under 2x the file. The file is exported once (about 15 s) into
    the model cache of tests/models/nets.py; `python -m tests.models.bench_loader` prints the same
    figures for both exporters."""
    path = bench_loader.bert_base("legacy")
    size_mb = path.stat().st_size / 2**20
    for step in ("load", "import", "touch"):
        r = bench_loader.measure(path, step)
        print(f"{step}: {r}")
        assert r["seconds"] < 5, (step, r)
        assert r["peak_mb"] < 2 * size_mb, (step, r)
        if step != "touch":  # until the weights are used, none of them is resident
            assert r["peak_mb"] - r["base_mb"] < 0.25 * size_mb, (step, r)


def test_sparse_initializer_values_are_mapped(tmp_path: Path, rng: np.random.Generator) -> None:
    from tritium.frontends.onnx.proto import sparse_to_array

    dense = np.zeros((64, 64), np.float32)
    idx = np.sort(rng.choice(dense.size, 500, replace=False)).astype(np.int64)
    dense.reshape(-1)[idx] = rng.standard_normal(500).astype(np.float32)
    sp = helper.make_sparse_tensor(
        numpy_helper.from_array(dense.reshape(-1)[idx], "s"), numpy_helper.from_array(idx, "s_idx"), [64, 64]
    )
    graph = helper.make_graph(
        [helper.make_node("Identity", ["s"], ["y"])],
        "g",
        [],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [64, 64])],
        sparse_initializer=[sp],
    )
    path = tmp_path / "sparse.onnx"
    onnx.save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    proto, base = load_model(path)
    s = proto.graph.sparse_initializer[0]
    assert is_mapped(s.values) and is_mapped(s.indices)
    np.testing.assert_array_equal(sparse_to_array(s, base), dense)
    np.testing.assert_array_equal(tritium.compile(path)({})["y"], dense)
