"""Builder, BuilderConfig, optimization profiles, algorithm selection, timing caches, plugins and refit:
the TensorRT build → serialize → deserialize → run path on the generated kernels (CPU interpreter)."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

import tritium as tr
from tritium.runtime.reference import InputError


class Capture(tr.Logger):
    def __init__(self) -> None:
        super().__init__(tr.Logger.VERBOSE)
        self.messages: list[tuple[int, str]] = []

    def log(self, severity: tr.Logger.Severity, msg: str) -> None:
        self.messages.append((int(severity), msg))


def small_cnn(
    rng: np.random.Generator, batch: int = -1
) -> tuple[tr.INetworkDefinition, dict[str, np.ndarray]]:
    net = tr.Builder(tr.Logger()).create_network()
    w1, b1 = (
        rng.standard_normal((8, 3, 3, 3)).astype(np.float32) * 0.3,
        rng.standard_normal(8).astype(np.float32),
    )
    w2 = rng.standard_normal((10, 8)).astype(np.float32) * 0.3
    x = net.add_input("image", tr.float32, (batch, 3, 8, 8))
    conv = net.add_convolution_nd(x, 8, (3, 3), w1, b1)
    conv.padding_nd = (1, 1)
    relu = net.add_activation(conv.get_output(0), tr.ActivationType.RELU)
    pool = net.add_reduce(relu.get_output(0), tr.ReduceOperation.AVG, 0b1100, keep_dims=False)
    fc = net.add_matrix_multiply(
        pool.get_output(0),
        tr.MatrixOperation.NONE,
        net.add_constant((10, 8), w2).get_output(0),
        tr.MatrixOperation.TRANSPOSE,
    )
    sm = net.add_softmax(fc.get_output(0))
    sm.axes = 1 << 1
    sm.get_output(0).name = "probs"
    net.mark_output(sm.get_output(0))
    return net, {"w1": w1, "b1": b1, "w2": w2}


def cnn_reference(x: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
    h = F.relu(F.conv2d(torch.from_numpy(x), torch.from_numpy(w["w1"]), torch.from_numpy(w["b1"]), padding=1))
    return torch.softmax(h.mean((2, 3)) @ torch.from_numpy(w["w2"]).T, 1).numpy()


def test_build_serialize_deserialize_execute_with_profiles(rng: np.random.Generator) -> None:
    logger = Capture()
    builder = tr.Builder(logger)
    net, w = small_cnn(rng)
    config = builder.create_builder_config()
    for lo, opt, hi in [(1, 2, 4), (5, 6, 8)]:
        p = builder.create_optimization_profile()
        p.set_shape("image", (lo, 3, 8, 8), (opt, 3, 8, 8), (hi, 3, 8, 8))
        config.add_optimization_profile(p)
    plan = builder.build_serialized_network(net, config)
    assert plan is not None
    engine = tr.Runtime(logger).deserialize_cuda_engine(plan)
    assert engine.num_optimization_profiles == 2
    assert engine.get_tensor_profile_shape("image", 1) == [(5, 3, 8, 8), (6, 3, 8, 8), (8, 3, 8, 8)]
    assert engine.get_tensor_shape("image") == (-1, 3, 8, 8) and engine.get_tensor_name(1) == "probs"
    ctx = engine.create_execution_context()
    x = rng.standard_normal((3, 3, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(ctx.run({"image": x})["probs"], cnn_reference(x, w), rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match=r"outside optimization profile 0 .*profile 1 covers it"):
        ctx.set_input_shape("image", (6, 3, 8, 8))
    ctx.set_optimization_profile_async(1, 0)
    x6 = rng.standard_normal((6, 3, 8, 8)).astype(np.float32)
    # TensorRT's way: bind addresses, set the shape, execute.
    out = torch.empty((6, 10), device=engine.device)  # device memory on a GPU, host memory on the CPU
    xt = torch.from_numpy(x6).to(engine.device)
    ctx.set_input_shape("image", x6.shape)
    ctx.set_tensor_address("image", xt.data_ptr())
    ctx.set_tensor_address("probs", out.data_ptr())
    assert ctx.execute_async_v3(0)
    np.testing.assert_allclose(out.cpu().numpy(), cnn_reference(x6, w), rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match="no optimization profile of the engine covers it"):
        ctx.set_input_shape("image", (9, 3, 8, 8))
    with pytest.raises(InputError, match="2 optimization profile"):
        ctx.set_optimization_profile_async(2, 0)


def test_build_errors_are_logged_and_return_none(rng: np.random.Generator) -> None:
    logger = Capture()
    builder = tr.Builder(logger)
    net, _ = small_cnn(rng)
    config = builder.create_builder_config()
    assert builder.build_serialized_network(net, config) is None
    assert any("dynamic dimensions" in m and "image" in m for s, m in logger.messages if s == tr.Logger.ERROR)
    p = builder.create_optimization_profile()
    p.set_shape("image", (1, 3, 8, 8), (1, 3, 8, 8), (2, 3, 9, 8))
    config.add_optimization_profile(p)
    with pytest.raises(
        tr.BuildError, match=r"\[2, 3, 9, 8\] of 'image' does not fit its declared shape \[-1, 3, 8, 8\]"
    ):
        builder.build_engine_with_config(net, config)
    with pytest.raises(tr.BuildError, match="min <= opt <= max"):
        p.set_shape("image", (4, 3, 8, 8), (1, 3, 8, 8), (8, 3, 8, 8))
    empty = builder.create_network()
    empty.add_input("x", tr.float32, (2,))
    with pytest.raises(tr.BuildError, match="no outputs"):
        builder.build_engine_with_config(empty, builder.create_builder_config())


def test_algorithm_selector_restricts_and_sees_the_choices(rng: np.random.Generator) -> None:
    class OnlyLast(tr.IAlgorithmSelector):
        def __init__(self) -> None:
            self.asked: list[tuple[str, int]] = []
            self.reported: list = []

        def select_algorithms(self, context, choices):
            self.asked.append((context.name, len(choices)))
            return [len(choices) - 1]

        def report_algorithms(self, contexts, choices) -> None:
            self.reported = list(zip(contexts, choices))

    builder = tr.Builder(tr.Logger())
    net, w = small_cnn(rng, batch=2)
    config = builder.create_builder_config()
    config.algorithm_selector = sel = OnlyLast()
    engine = builder.build_engine_with_config(net, config)
    assert sel.asked and sel.reported
    for (name, n), (ctx, algo) in zip(sel.asked, sel.reported):
        assert ctx.name == name and algo.tactic == n - 1
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(engine({"image": x})["probs"], cnn_reference(x, w), rtol=1e-5, atol=1e-6)
    assert engine.manifest["configs"], "the selected configs are what the plan records"


class PreferLibrary(tr.IAlgorithmSelector):
    """Chooses the library tactic wherever one is offered (on the CPU, where nothing is timed)."""

    def __init__(self) -> None:
        self.offered: list[str] = []

    def select_algorithms(self, context, choices):
        lib = [a.tactic for a in choices if a.config.get("LIBRARY")]
        self.offered += [context.name] * len(lib)
        return lib or list(range(len(choices)))


def test_library_tactics_compete_and_run(rng: np.random.Generator) -> None:
    """FP16: cuDNN and cuBLAS (through torch; here its CPU kernels) are choices of the conv and the
    GEMM; chosen, the engine still matches, says so in the inspector, and keeps them in its plan."""
    builder = tr.Builder(tr.Logger())
    net, w = small_cnn(rng, batch=2)
    config = builder.create_builder_config()
    config.set_flag(tr.BuilderFlag.FP16)
    config.algorithm_selector = sel = PreferLibrary()
    engine = builder.build_engine_with_config(net, config)
    tactics = [layer["tactic"] for layer in engine.inspect()["layers"]]
    assert "cuDNN (through torch), ReLU fused" in tactics, tactics  # conv + ReLU: cuDNN's fused form
    assert "cuBLAS (through torch)" in tactics, tactics
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(engine({"image": x})["probs"], cnn_reference(x, w), rtol=2e-2, atol=2e-3)
    back = tr.Runtime(tr.Logger()).deserialize_cuda_engine(engine.serialize())
    assert [layer["tactic"] for layer in back.inspect()["layers"]] == tactics
    np.testing.assert_array_equal(back({"image": x})["probs"], engine({"image": x})["probs"])
    assert engine.manifest["tactic_sources"] == [t.name for t in tr.TacticSource]

    config.set_tactic_sources(1 << int(tr.TacticSource.JIT_CONVOLUTIONS))  # generated kernels only
    assert not config.set_tactic_sources(1 << 9) and config.get_tactic_sources() == 1 << 4
    config.algorithm_selector = none = PreferLibrary()
    plain = builder.build_engine_with_config(net, config)
    assert sel.offered and not none.offered
    assert all(
        layer["tactic"] == "generated Triton" or layer["tactic"].startswith("reshape")
        for layer in plain.inspect()["layers"]
    )


def test_tactic_sources_flag_and_argument_errors() -> None:
    from tritium.cli.common import parse_tactic_sources
    from tritium.ir.diagnostics import TritiumError

    all_on = sum(1 << int(t) for t in tr.TacticSource)
    assert parse_tactic_sources("-CUDNN, -cublas", all_on) == all_on & ~0b101
    with pytest.raises(TritiumError, match=r"'CUDNN' is not \+NAME or -NAME"):
        parse_tactic_sources("CUDNN", all_on)
    with pytest.raises(TritiumError, match="'-MKL'"):
        parse_tactic_sources("-MKL", all_on)
    with pytest.raises(TritiumError, match="tactic_sources 'cublas'"):
        tr.compile(onnx.helper.make_model(onnx.helper.make_graph([], "g", [], [])), tactic_sources="cublas")


def test_config_flags_pools_verbosity_and_timing_cache(rng: np.random.Generator) -> None:
    builder = tr.Builder(tr.Logger())
    config = builder.create_builder_config()
    config.set_flag(tr.BuilderFlag.FP16)
    config.set_flag(tr.BuilderFlag.REFIT)
    config.clear_flag(tr.BuilderFlag.REFIT)
    assert config.get_flag(tr.BuilderFlag.FP16) and not config.get_flag(tr.BuilderFlag.REFIT)
    config.set_memory_pool_limit(tr.MemoryPoolType.WORKSPACE, 1 << 20)
    assert config.get_memory_pool_limit(tr.MemoryPoolType.WORKSPACE) == 1 << 20
    config.profiling_verbosity = tr.ProfilingVerbosity.DETAILED
    cache = config.create_timing_cache(b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    assert config.get_timing_cache() is cache
    again = config.create_timing_cache(cache.serialize())
    assert again.combine(cache, False) and again.serialize() == cache.serialize()
    net, w = small_cnn(rng, batch=2)
    engine = builder.build_engine_with_config(net, config)
    info = json.loads(engine.create_engine_inspector().get_engine_information())
    assert info["layers"] and all("tactic" in layer for layer in info["layers"])
    assert engine.manifest["builder_flags"] == ["FP16"]
    assert engine.manifest["memory_pool_limits"] == {"WORKSPACE": 1 << 20}
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(engine({"image": x})["probs"], cnn_reference(x, w), rtol=2e-2, atol=2e-3)
    config.profiling_verbosity = tr.ProfilingVerbosity.LAYER_NAMES_ONLY
    engine = builder.build_engine_with_config(net, config)
    layers = json.loads(engine.create_engine_inspector().get_engine_information())["layers"]
    assert layers and all(set(layer) == {"name"} for layer in layers)


# ----------------------------------------------------------------------------------------------------------------
# Plugins


@pytest.fixture
def swish_plugin():
    plugin = tr.register_plugin(
        "ScaledSwish",
        infer=lambda shapes, dtypes, fields: [(shapes[0], dtypes[0])],
        reference=lambda xs, fields: [xs[0] * fields["scale"] / (1 + np.exp(-xs[0]))],
        device=lambda xs, outs, fields: outs[0].copy_(xs[0] * fields["scale"] * torch.sigmoid(xs[0])),
        fields=["scale"],
    )
    yield plugin
    tr.ir.plugins.REGISTRY.deregister("ScaledSwish")


def swish(x: np.ndarray, scale: float) -> np.ndarray:
    return x * scale / (1 + np.exp(-x))


def test_plugin_layer_through_build_plan_and_run(rng: np.random.Generator, swish_plugin) -> None:
    creator = tr.get_plugin_registry().get_creator("ScaledSwish", "1")
    assert creator is not None and [f.name for f in creator.field_names] == ["scale"]
    plugin = creator.create_plugin(
        "swish",
        tr.PluginFieldCollection(
            [tr.PluginField("scale", np.array([1.5], np.float32), tr.PluginFieldType.FLOAT32)]
        ),
    )
    builder = tr.Builder(tr.Logger())
    net = builder.create_network()
    x = net.add_input("x", tr.float32, (3, 5))
    layer = net.add_plugin_v2([x], plugin)
    relu = net.add_activation(layer.get_output(0), tr.ActivationType.RELU)
    net.mark_output(relu.get_output(0))
    plan = builder.build_serialized_network(net, builder.create_builder_config())
    engine = tr.Runtime(tr.Logger()).deserialize_cuda_engine(plan)
    xs = rng.standard_normal((3, 5)).astype(np.float32)
    out = engine({"x": xs})
    np.testing.assert_allclose(next(iter(out.values())), np.maximum(swish(xs, 1.5), 0), rtol=1e-5, atol=1e-6)
    modes = {layer["tactic"] for layer in engine.inspect()["layers"]}
    assert "plugin device code" in modes
    with pytest.raises(tr.PluginError, match="no field"):
        creator.create_plugin("bad", [tr.PluginField("gain", np.array([1.0]))])
    tr.ir.plugins.REGISTRY.deregister("ScaledSwish")
    with pytest.raises(tr.PlanError, match="'ScaledSwish' \\(version 1\\), not registered"):
        tr.Runtime(tr.Logger()).deserialize_cuda_engine(plan)


def test_onnx_nodes_of_a_custom_domain_map_to_plugins(rng: np.random.Generator, swish_plugin) -> None:
    node = helper.make_node("ScaledSwish", ["x"], ["y"], domain="com.example", scale=0.5, name="my_swish")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)]
    )
    xs = rng.standard_normal((2, 4)).astype(np.float32)
    for backend in ("reference", "triton"):
        out = tr.compile(model, backend=backend)({"x": xs})["y"]
        np.testing.assert_allclose(out, swish(xs, 0.5), rtol=1e-5, atol=1e-6)
    tr.ir.plugins.REGISTRY.deregister("ScaledSwish")
    net = tr.Builder(tr.Logger()).create_network()
    parser = tr.OnnxParser(net, tr.Logger(tr.Logger.INTERNAL_ERROR))
    assert not parser.parse(model.SerializeToString())
    assert "ScaledSwish" in parser.get_error(0).desc() and parser.get_error(0).node_name() == "my_swish"


# ----------------------------------------------------------------------------------------------------------------
# Refit


def bn_cnn(rng: np.random.Generator) -> onnx.ModelProto:
    w = rng.standard_normal((6, 3, 3, 3)).astype(np.float32) * 0.3
    bn = [np.abs(rng.standard_normal(6)).astype(np.float32) + 0.5, rng.standard_normal(6).astype(np.float32),
          rng.standard_normal(6).astype(np.float32), np.abs(rng.standard_normal(6)).astype(np.float32) + 0.5]  # fmt: skip
    fc = rng.standard_normal((6, 4)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "conv.w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("BatchNormalization", ["c", "bn.g", "bn.b", "bn.m", "bn.v"], ["n"], name="bn"),
        helper.make_node("Relu", ["n"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["p"], name="gap"),
        helper.make_node("Flatten", ["p"], ["f"], name="flat"),
        helper.make_node("MatMul", ["f", "fc.w"], ["y"], name="fc"),
    ]
    inits = [
        numpy_helper.from_array(a, n)
        for a, n in zip([w, *bn, fc], ["conv.w", "bn.g", "bn.b", "bn.m", "bn.v", "fc.w"])
    ]
    graph = helper.make_graph(
        nodes,
        "bn_cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])],
        inits,
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8
    )  # any onnxruntime


def build_from_onnx(
    model: onnx.ModelProto, refit: bool, shapes: dict[str, tuple[int, ...]] | None = None
) -> tuple[object, bytes]:
    builder = tr.Builder(tr.Logger())
    net = builder.create_network()
    assert tr.OnnxParser(net, tr.Logger()).parse(model.SerializeToString())
    config = builder.create_builder_config()
    if refit:
        config.set_flag(tr.BuilderFlag.REFIT)
    if shapes:
        profile = builder.create_optimization_profile()
        for name, shape in shapes.items():
            profile.set_shape(name, shape, shape, shape)
        config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(net, config)
    return tr.Runtime(tr.Logger()).deserialize_cuda_engine(plan), plan


def test_refit_batchnorm_folded_weights_equals_a_fresh_build(rng: np.random.Generator) -> None:
    model = bn_cnn(rng)
    engine, _ = build_from_onnx(model, refit=True)
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    ctx = engine.create_execution_context()
    before = ctx.run({"x": x})["y"]
    refitter = tr.Refitter(engine, tr.Logger())
    assert refitter.get_all_weights() == ["bn.b", "bn.g", "bn.m", "bn.v", "conv.w", "fc.w"]
    assert refitter.get_missing_weights() == []
    new = {n: rng.standard_normal(numpy_helper.to_array(t).shape).astype(np.float32) for n, t in
           ((t.name, t) for t in model.graph.initializer)}  # fmt: skip
    new["bn.v"] = np.abs(new["bn.v"]) + 0.5
    refitter.set_named_weights("conv.w", new["conv.w"])
    assert refitter.get_missing_weights() == ["bn.b", "bn.g", "bn.m", "bn.v"]
    with pytest.raises(tr.RefitError, match="missing"):
        refitter.refit_cuda_engine()
    with pytest.raises(tr.RefitError, match=r"'fc.w' has shape \[6, 4\], got \[4, 6\]"):
        refitter.set_named_weights("fc.w", new["fc.w"].T)
    with pytest.raises(tr.RefitError, match="no refittable weight 'conv.weight'"):
        refitter.set_named_weights("conv.weight", new["conv.w"])
    np.testing.assert_array_equal(ctx.run({"x": x})["y"], before)  # nothing applied yet
    for n, a in new.items():
        refitter.set_named_weights(
            n, a.reshape(-1) if n == "fc.w" else a
        )  # flat weights, as TensorRT passes them
    assert refitter.refit_cuda_engine()
    for init in model.graph.initializer:
        init.CopyFrom(numpy_helper.from_array(new[init.name], init.name))
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"x": x}
    )[0]
    fresh, _ = build_from_onnx(model, refit=False)
    np.testing.assert_allclose(ctx.run({"x": x})["y"], fresh({"x": x})["y"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ctx.run({"x": x})["y"], want, rtol=1e-4, atol=1e-5)
    # A refitted engine serializes with its new weights (and stays refittable).
    again = tr.Runtime(tr.Logger()).deserialize_cuda_engine(engine.serialize())
    np.testing.assert_allclose(again({"x": x})["y"], want, rtol=1e-4, atol=1e-5)
    assert tr.Refitter(again, tr.Logger()).get_all_weights() == refitter.get_all_weights()


def test_refit_needs_the_refit_flag(rng: np.random.Generator) -> None:
    engine, _ = build_from_onnx(bn_cnn(rng), refit=False)
    with pytest.raises(tr.RefitError, match="BuilderFlag.REFIT"):
        tr.Refitter(engine, tr.Logger())


def test_refit_merged_attention_projections(rng: np.random.Generator, tmp_path) -> None:
    """BERT's query, key and value weights are one merged GEMM weight in the engine: refitting them
    (by their source names) gives what a fresh build with the new weights gives."""
    from tests.models import zoo

    path = zoo.exported("bert", "legacy")
    model = onnx.load(str(path))
    inputs = zoo.MODELS["bert"].inputs(rng, False)
    engine, _ = build_from_onnx(model, refit=True, shapes={k: v.shape for k, v in inputs.items()})
    refitter = tr.Refitter(engine, tr.Logger())
    weight_of = {n.name: n.input[1] for n in model.graph.node if n.op_type == "MatMul"}
    query = weight_of["/model/encoder/layer.0/attention/self/query/MatMul"]
    key = weight_of["/model/encoder/layer.0/attention/self/key/MatMul"]
    refitter.set_named_weights(
        query, rng.standard_normal(refitter.get_named_weights(query).shape).astype(np.float32)
    )
    missing = refitter.get_missing_weights()
    assert key in missing and query not in missing  # merged together: refit together
    new = {}
    for init in model.graph.initializer:
        if init.name in missing or init.name == query:
            a = numpy_helper.to_array(init)
            new[init.name] = (rng.standard_normal(a.shape) * a.std() + a.mean()).astype(a.dtype)
            refitter.set_named_weights(init.name, new[init.name])
            init.CopyFrom(numpy_helper.from_array(new[init.name], init.name))
    assert refitter.refit_cuda_engine()
    refitted = tmp_path / "refitted.onnx"
    onnx.save(model, str(refitted))
    errors = zoo.compare_with_onnxruntime(refitted, inputs, engine)
    assert all(e <= zoo.TOLERANCE for e in errors.values()), errors
