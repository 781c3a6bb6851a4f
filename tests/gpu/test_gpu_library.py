"""Library tactics with fused epilogues on a CUDA GPU (skipped without one): cuDNN's convolution +
bias + ReLU and + residual + ReLU kernels (``conv_library``), whose results the runtime takes in
place of its buffers, inside CUDA graphs too; cuBLASLt's bias + ReLU epilogue; library tactics chosen
by an algorithm selector in a whole engine."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tritium as tr
from tests.codegen.test_conv import FUSED_FORMS, library_form_case, run_library_form
from tests.gpu.test_gpu_kernels import rel
from tests.runtime.test_library_results import SHAPE, Block, Spy

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("epilogue", list(FUSED_FORMS), ids=list(FUSED_FORMS.values()))
def test_cudnn_forms_on_the_gpu(epilogue: str, layout: str, bias: bool, rng: np.random.Generator) -> None:
    run_library_form(library_form_case(epilogue, layout, bias), FUSED_FORMS[epilogue], rng, "cuda")


def test_cudnn_fused_convolutions_in_cuda_graphs() -> None:
    """A ResNet block in FP16, both convolutions on cuDNN's fused forms: the second reads the
    tensor the first returned, and CUDA-graph replays on new inputs give torch's FP32 values."""
    import io

    torch.manual_seed(0)
    model = Block().eval()
    f = io.BytesIO()
    torch.onnx.export(model, (torch.zeros(SHAPE),), f, input_names=["x"], output_names=["y"], dynamo=False)
    engine = tr.compile(f.getvalue(), fp16=True, device="cuda")
    steps = [s for s in engine.program({"x": SHAPE}).steps if getattr(s.kernel, "library_form", None)]
    assert [s.kernel.library_form for s in steps] == ["relu", "add_relu"]
    for s in steps:
        s.config = s.kernel.library_config()
        s.kernel = Spy(s.kernel)
    ctx = engine.create_execution_context()
    for _ in range(4):  # captured from the second run, replayed after
        x = torch.randn(SHAPE, device="cuda")
        got = ctx.run({"x": x})["y"].float()
        want = model.cuda()(x)
        assert float((got - want).norm() / want.norm()) < 2e-3
    assert ctx._graphs, "the runs were captured"
    assert steps[0].kernel.returned[0].data_ptr() in steps[1].kernel.read


def test_cublaslt_bias_relu_epilogue(rng: np.random.Generator) -> None:
    """A GEMM + bias + ReLU on cuBLASLt's fused epilogue (``torch._addmm_activation``), into the
    given output."""
    from tritium.codegen import kernel_for
    from tritium.ir import parse_ir
    from tritium.passes import PassManager

    m, k, n = 300, 256, 512
    t = lambda s: "tensor<" + "".join(f"{d}x" for d in s) + "f16>"  # noqa: E731
    module = parse_ir(f"""func.func @main(%a: {t((m, k))}, %b: {t((k, n))}, %c: {t((n,))}) -> {t((m, n))} {{
  %y = nn.matmul %a, %b : ({t((m, k))}, {t((k, n))}) -> {t((m, n))}
  %z = nn.add %y, %c : ({t((m, n))}, {t((n,))}) -> {t((m, n))}
  %r = nn.relu %z : {t((m, n))}
  func.return %r : {t((m, n))}
}}""")
    PassManager("fuse-kernels,dce").run(module)
    kernel = kernel_for(next(op for op in module.main.block.ops if op.name == "kernel.fused"))
    assert kernel.library == "addmm_relu"
    a, c = torch.randn(m, k, device="cuda").half(), torch.randn(n, device="cuda").half()
    b = torch.randn(n, k, device="cuda").half().t() / 16  # K-major, as the runtime holds a weight
    out = torch.full((m, n), float("nan"), device="cuda", dtype=torch.float16)
    assert kernel([a, b, c], [out], kernel.library_config()) is None
    want = torch.relu(a.float() @ b.float() + c.float())
    assert float((out.float() - want).norm() / want.norm()) < 2e-3


def test_library_tactics_on_the_gpu(rng: np.random.Generator) -> None:
    """cuBLAS and cuDNN (through torch) chosen by a selector: right results, in a CUDA graph too."""

    class PreferLibrary(tr.IAlgorithmSelector):
        def select_algorithms(self, context, choices):
            return [a.tactic for a in choices if a.config.get("LIBRARY")] or list(range(len(choices)))

    builder = tr.Builder(tr.Logger())
    net = builder.create_network()
    x = net.add_input("x", tr.float32, (4, 16, 20, 20))
    w = rng.standard_normal((32, 16, 3, 3)).astype(np.float32) * 0.2
    b = rng.standard_normal(32).astype(np.float32)
    conv = net.add_convolution_nd(x, 32, (3, 3), w, b)
    conv.padding_nd = (1, 1)
    act = net.add_activation(conv.get_output(0), tr.ActivationType.RELU)
    pool = net.add_reduce(act.get_output(0), tr.ReduceOperation.AVG, 0b1100, keep_dims=False)
    wfc = rng.standard_normal((32, 24)).astype(np.float32) * 0.2
    fc = net.add_matrix_multiply(
        pool.get_output(0),
        tr.MatrixOperation.NONE,
        net.add_constant((32, 24), wfc).get_output(0),
        tr.MatrixOperation.NONE,
    )
    gelu = net.add_activation(fc.get_output(0), tr.ActivationType.GELU_ERF)
    gelu.get_output(0).name = "y"
    net.mark_output(gelu.get_output(0))
    config = builder.create_builder_config()
    config.set_flag(tr.BuilderFlag.FP16)
    config.algorithm_selector = PreferLibrary()
    config.device = "cuda"
    engine = builder.build_engine_with_config(net, config)
    tactics = {layer["tactic"] for layer in engine.inspect()["layers"]}
    assert {
        "cuDNN (through torch), ReLU fused",  # conv + bias + ReLU: cuDNN's fused kernel
        "cuBLAS (through torch) + generated epilogue",
    } <= tactics
    xs = rng.standard_normal((4, 16, 20, 20)).astype(np.float32)
    import torch

    t = torch.from_numpy
    h = torch.relu(torch.nn.functional.conv2d(t(xs), t(w), t(b), padding=1)).mean((2, 3)) @ t(wfc)
    want = torch.nn.functional.gelu(h).numpy()
    for _ in range(3):  # the second run captures a CUDA graph, the third replays it
        assert rel(engine({"x": xs})["y"], want) < 5e-3
