"""The runtime on a CUDA GPU (skipped without one): plans carrying compiled kernel binaries, plugins
inside CUDA graphs, and contexts in threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import tritium as tr

pytestmark = pytest.mark.gpu


def cnn(rng: np.random.Generator) -> tr.INetworkDefinition:
    net = tr.Builder(tr.Logger()).create_network()
    x = net.add_input("x", tr.float32, (2, 8, 16, 16))
    conv = net.add_convolution_nd(x, 16, (3, 3), rng.standard_normal((16, 8, 3, 3)).astype(np.float32) * 0.2)
    conv.padding_nd = (1, 1)
    relu = net.add_activation(conv.get_output(0), tr.ActivationType.RELU)
    red = net.add_reduce(relu.get_output(0), tr.ReduceOperation.AVG, 0b1100, keep_dims=False)
    red.get_output(0).name = "y"
    net.mark_output(red.get_output(0))
    return net


def test_plan_with_binaries_round_trips(rng: np.random.Generator) -> None:
    from tritium.runtime.plan import deserialize_plan

    builder = tr.Builder(tr.Logger())
    engine = builder.build_engine_with_config(cnn(rng), builder.create_builder_config())
    x = torch.randn(2, 8, 16, 16, device="cuda")
    want = engine({"x": x})["y"]
    plan = engine.serialize()
    assert deserialize_plan(plan).binaries, "a plan built and run on the GPU carries its kernel binaries"
    runtime = tr.Runtime(tr.Logger())
    runtime.trust_binaries = True
    again = runtime.deserialize_cuda_engine(plan)
    torch.testing.assert_close(again({"x": x})["y"], want)


def test_plan_launcher_signatures_build_what_triton_builds(rng: np.random.Generator, monkeypatch) -> None:
    """On a Triton with per-signature C launchers (3.6), the plan's launcher signatures regenerate
    exactly the launchers Triton built while the engine ran: building them again compiles nothing."""
    nvidia = pytest.importorskip("triton.backends.nvidia.driver")
    build_module = pytest.importorskip("triton.runtime.build")
    from tritium.codegen.binaries import prebuild_launchers
    from tritium.codegen.triton_env import wait_for_warm_up
    from tritium.runtime.plan import deserialize_plan

    builder = tr.Builder(tr.Logger())
    engine = builder.build_engine_with_config(cnn(rng), builder.create_builder_config())
    engine({"x": torch.randn(2, 8, 16, 16, device="cuda")})
    launchers = deserialize_plan(engine.serialize()).manifest.get("launchers")
    if not hasattr(nvidia, "make_launcher"):
        pytest.skip("this Triton has no per-signature launchers")  # 3.7 and later: nothing to build
    assert launchers, "a plan run on Triton 3.6 carries its launcher signatures"
    sources = {
        nvidia.make_launcher(
            {tuple(i): v for i, v in e["constants"]}, dict(e["signature"]), e.get("tensordesc_meta")
        )
        for e in launchers
    }
    assert sources  # Triton's generator takes every signature (none is skipped by an error)
    builds: list[str] = []
    real = build_module._build
    monkeypatch.setattr(
        build_module, "_build", lambda name, *a, **k: builds.append(name) or real(name, *a, **k)
    )
    assert prebuild_launchers(launchers) == len(launchers)
    wait_for_warm_up()
    assert builds == [], "a prebuilt launcher's source differs from the one Triton built"


def test_plugin_device_code_in_a_cuda_graph(rng: np.random.Generator) -> None:
    tr.register_plugin(
        "GpuScale",
        infer=lambda shapes, dtypes, fields: [(shapes[0], dtypes[0])],
        reference=lambda xs, fields: [xs[0] * fields["k"]],
        device=lambda xs, outs, fields: outs[0].copy_(xs[0] * fields["k"]),
    )
    try:
        net = tr.Builder(tr.Logger()).create_network()
        x = net.add_input("x", tr.float32, (4, 5))
        creator = tr.get_plugin_registry().get_creator("GpuScale")
        layer = net.add_plugin_v2([x], creator.create_plugin("s", [tr.PluginField("k", np.array([3.0]))]))
        net.mark_output(layer.get_output(0))
        builder = tr.Builder(tr.Logger())
        engine = builder.build_engine_with_config(net, builder.create_builder_config())
        ctx = engine.create_execution_context()
        for _ in range(3):  # the third run replays the captured graph
            xs = torch.randn(4, 5, device="cuda")
            torch.testing.assert_close(next(iter(ctx.run({"x": xs}).values())), xs * 3)
        assert ctx._graphs, "the plugin step was captured"
    finally:
        tr.ir.plugins.REGISTRY.deregister("GpuScale")


def test_bound_io_replays_a_graph_on_the_callers_memory(rng: np.random.Generator) -> None:
    """execute_async_v3 with bound addresses: from the second run on, a CUDA graph reads the bound
    input and writes the bound output where they are (no copies). New contents of the same buffers
    give new results; other buffers get their own graph, and only MAX_BOUND_GRAPHS are kept."""
    from tritium.runtime.context import MAX_BOUND_GRAPHS

    builder = tr.Builder(tr.Logger())
    engine = builder.build_engine_with_config(cnn(rng), builder.create_builder_config())
    ctx = engine.create_execution_context()
    x, y = torch.empty(2, 8, 16, 16, device="cuda"), torch.empty(2, 16, device="cuda")
    ctx.set_tensor_address("x", x.data_ptr())
    ctx.set_tensor_address("y", y)
    for _ in range(4):
        x.copy_(torch.randn_like(x))
        y.fill_(float("nan"))
        assert ctx.execute_async_v3(0)
        torch.testing.assert_close(y, engine({"x": x})["y"])
    assert sum("bound" in k for k in ctx._graphs) == 1, "the runs after the first replay one graph"
    kept = []  # alive, so that no two buffers share an address
    for _ in range(MAX_BOUND_GRAPHS + 2):  # a new output buffer each time: a graph each from its second run
        y2 = torch.empty(2, 16, device="cuda")
        kept.append(y2)
        ctx.set_tensor_address("y", y2)
        for _ in range(2):
            assert ctx.execute_async_v3(0)
        torch.testing.assert_close(y2, engine({"x": x})["y"])
    assert sum("bound" in k for k in ctx._graphs) == MAX_BOUND_GRAPHS


def test_four_contexts_in_four_threads(rng: np.random.Generator) -> None:
    builder = tr.Builder(tr.Logger())
    engine = builder.build_engine_with_config(cnn(rng), builder.create_builder_config())
    inputs = [torch.randn(2, 8, 16, 16, device="cuda") for _ in range(4)]
    want = [engine({"x": t})["y"].clone() for t in inputs]
    diffs = [float("inf")] * 4

    def work(i: int) -> None:
        ctx = engine.create_execution_context()
        worst = 0.0
        for _ in range(10):
            worst = max(worst, float((ctx.run({"x": inputs[i]})["y"] - want[i]).abs().max()))
        diffs[i] = worst

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(diffs) == 0.0


def test_profiler_times_layers_not_the_host(rng: np.random.Generator) -> None:
    """Twelve small layers run for a few microseconds each; launching each from Python takes longer.
    The per-layer times must add up to about the CUDA-graph run, not to the host's launch time."""
    from triton.testing import do_bench

    net = tr.Builder(tr.Logger()).create_network()
    h = net.add_input("x", tr.float32, (64, 256))
    for _ in range(12):
        w = net.add_constant((256, 256), rng.standard_normal((256, 256)).astype(np.float32) * 0.06)
        mm = net.add_matrix_multiply(h, tr.MatrixOperation.NONE, w.get_output(0), tr.MatrixOperation.NONE)
        h = net.add_activation(mm.get_output(0), tr.ActivationType.TANH).get_output(0)
    h.name = "y"
    net.mark_output(h)
    builder = tr.Builder(tr.Logger())
    config = builder.create_builder_config()
    config.builder_optimization_level = 1
    engine = builder.build_engine_with_config(net, config)
    x = torch.randn(64, 256, device="cuda")
    context = engine.create_execution_context()
    context.run({"x": x})
    graph_ms = do_bench(lambda: context.run({"x": x}), return_mode="median")
    rows = context.profile({"x": x})
    layers_ms = sum(r["median_ms"] for r in rows)
    assert len(rows) >= 12 and layers_ms < 1.5 * graph_ms + 0.01, (layers_ms, graph_ms)


def test_programmatic_dependent_launch_gives_the_same_results(rng: np.random.Generator, monkeypatch) -> None:
    """On Hopper with a Triton that has grid dependency control, every generated kernel launches with
    PDL (it waits for the previous kernel's writes before reading; grids of one wave let the next
    kernel launch early): a CNN, replayed from a CUDA graph many times, gives exactly what the same
    engine gives with PDL off, also with every grid triggering early or at its end."""
    from tritium.codegen import triton_env

    assert triton_env.pdl_available(), "H100/H200 with Triton >= 3.4: PDL expected"
    builder = tr.Builder(tr.Logger())
    engine = builder.build_engine_with_config(cnn(rng), builder.create_builder_config())
    xs = [torch.randn(2, 8, 16, 16, device="cuda") for _ in range(3)]
    got = []
    for trigger in ("", "start", "exit"):
        monkeypatch.setenv("TRITIUM_PDL_TRIGGER", trigger)
        with_pdl = engine.create_execution_context()
        got += [[with_pdl.run({"x": x})["y"].clone() for x in xs] for _ in range(4)]  # graphs from the 2nd
    monkeypatch.setattr(triton_env, "pdl_available", lambda: False)
    without = engine.create_execution_context()
    want = [without.run({"x": x})["y"] for x in xs]
    for run in got:
        for g, w in zip(run, want):
            assert torch.equal(g, w)


def test_unaligned_logits_get_padded_rows_on_the_gpu(rng: np.random.Generator) -> None:
    """A GEMM output of 300 f16 columns (600-byte rows) is written with rows 304 apart on the GPU
    (runtime/views.py): run() and bound buffers (the context's own, whose padding it writes; the
    caller's padded one; a dense one) give torch's values, CUDA graphs included (the second call
    captures one, the third replays it)."""
    from tritium.ir import parse_ir

    m = parse_ir(
        """func.func @main(%x: tensor<4x64x128xf16>) -> tensor<4x64x300xf16> attributes {input_names = ["x"], output_names = ["logits"]} {
  %w = nn.constant dense_resource<head.weight> : tensor<128x300xf16> loc("head")
  %y = nn.matmul %x, %w : (tensor<4x64x128xf16>, tensor<128x300xf16>) -> tensor<4x64x300xf16> loc("head")
  func.return %y : tensor<4x64x300xf16>
}"""
    )
    w = (rng.standard_normal((128, 300)) / 8).astype(np.float16)
    m.resources["head.weight"] = w
    engine = tr.compile(m, device="cuda")
    x = torch.randn(4, 64, 128, device="cuda", dtype=torch.float16)
    want = (x.float() @ torch.from_numpy(w).cuda().float()).cpu()
    ctx = engine.create_execution_context()
    for _ in range(3):
        got = ctx.run({"x": x})["logits"]
        assert (got.float().cpu() - want).abs().max().item() < 2e-2
    ctx.set_input_shape("x", (4, 64, 128))
    strides = ctx.get_tensor_strides("logits")
    assert strides == (64 * 304, 304, 1)
    ctx.set_tensor_address("x", x)
    for out in (
        ctx.allocate_output("logits"),
        torch.empty_strided((4, 64, 300), strides, dtype=torch.float16, device="cuda"),
        torch.empty(4, 64, 300, dtype=torch.float16, device="cuda"),
    ):
        ctx.set_tensor_address("logits", out)
        for _ in range(3):
            out.fill_(float("nan"))
            assert ctx.execute_async_v3(torch.cuda.current_stream().cuda_stream)
            torch.cuda.synchronize()
            assert (out.float().cpu() - want).abs().max().item() < 2e-2
