"""Engine outputs with padded rows (runtime/views.py, ``padded_outputs``): a GEMM writing unaligned
rows (GPT-2's 50257 logits) writes them 16 elements apart, so its stores are vectors. On the CPU
(generated kernels under Triton's interpreter) with ``TRITIUM_PAD_OUTPUTS=1``: the GEMM template at
any row stride, the strides the context reports, bound buffers of either layout, and the refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tritium as tr
from tritium.codegen import kernel_for
from tritium.codegen.gemm import MatmulKernel, row_stride
from tritium.ir import parse_ir
from tritium.ir.diagnostics import TritiumError
from tritium.passes import PassManager


def ty(shape: tuple[int, ...], dt: str = "f16") -> str:
    return "tensor<" + "".join(f"{d}x" for d in shape) + dt + ">"


def test_row_stride() -> None:
    base = torch.empty(6, 304)
    assert row_stride(torch.empty(2, 3, 300)) == 300
    assert row_stride(base[:, :300]) == 304
    assert row_stride(base[:, :300].view(2, 3, 300)) == 304
    assert row_stride(base[:, :300].view(2, 3, 300)[:, :2]) is None  # leading dims that do not merge
    assert row_stride(torch.empty(300, 6).t()) is None  # columns not adjacent
    assert row_stride(base[:1, :300]) == 300 and row_stride(torch.empty(300)) == 300  # one row


GEMM = """func.func @main(%a: {a}, %b: {w}, %c: {bias}) -> {o} {{
  %y = nn.matmul %a, %b : ({a}, {w}) -> {o}
  %z = nn.add %y, %c : ({o}, {bias}) -> {o}
  %t = nn.tanh %z : {o}
  func.return %t : {o}
}}"""
EPILOGUES = {  # the IR's result -> (the library's form, numpy's result from the product p and the bias c)
    "%t": ("epilogue", lambda p, c: np.tanh(p + c)),  # cuBLAS, then the generated epilogue twin
    "%z": ("addmm", lambda p, c: p + c),
    "%r": ("addmm_relu", lambda p, c: np.maximum(p + c, 0)),  # (%t a ReLU) cuBLASLt's ReLU-and-bias epilogue
    "%y": ("matmul", lambda p, c: p),
}
FORMS = {
    "pointers": {"BLOCK_M": 16, "BLOCK_N": 64, "BLOCK_K": 32},
    "tma": {"BLOCK_M": 16, "BLOCK_N": 64, "BLOCK_K": 32, "TMA": 1, "TMA_STORE": 1},
    "tma split": {"BLOCK_M": 16, "BLOCK_N": 64, "BLOCK_K": 32, "TMA": 1, "SPLIT": 1},
    "persistent": {"BLOCK_M": 16, "BLOCK_N": 64, "BLOCK_K": 32, "TMA": 1, "PERSISTENT": 1},
    "stream-k": {"BLOCK_M": 16, "BLOCK_N": 64, "BLOCK_K": 32, "TMA": 1, "STREAMK": 1},
    "library": {"LIBRARY": 1},
}


@pytest.mark.parametrize("pad_stores", [False, True])
@pytest.mark.parametrize(
    "form,result", [(f, "%t") for f in FORMS] + [("library", r) for r in ("%z", "%r", "%y")]
)
def test_gemm_writes_padded_rows(
    form: str, result: str, pad_stores: bool, monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator
) -> None:
    """Every form of the GEMM template, and each of the library's (the product alone, with a bias,
    with a bias and a ReLU, and with a generated epilogue after it), writes an output whose rows are 304 elements apart: the
    values of the dense output, the padding untouched; with ``PAD_STORES`` the generated stores may
    write the padding too (whole 16-byte vectors), the values the same. The weight is held K-major,
    as the runtime holds one with unaligned rows, so the TMA forms run (their descriptors exist)."""
    monkeypatch.setattr("tritium.codegen.triton_env.sm_count", lambda: 4)  # (several rounds of tiles)
    m, k, n = 6, 64, 300
    text = GEMM.format(a=ty((2, 3, k)), w=ty((k, n)), o=ty((2, 3, n)), bias=ty((n,)))
    if result == "%r":
        text, result = text.replace("nn.tanh", "nn.relu"), "%t"
    module = parse_ir(text.replace("func.return %t", f"func.return {result}"))
    PassManager("fuse-kernels,dce").run(module)
    fused = next(op for op in module.main.block.ops if op.name == "kernel.fused")
    kernel = kernel_for(fused)
    library, reference = EPILOGUES["%r" if "nn.relu" in text else result]
    assert isinstance(kernel, MatmulKernel) and kernel.fold and kernel.library == library
    a, w, c = ((rng.standard_normal(s) / 4).astype(np.float16) for s in [(2, 3, k), (k, n), (n,)])
    wk = torch.from_numpy(w).t().contiguous().t()  # K-major (runtime/views.py, k_major)
    env = dict(zip(module.main.args, (torch.from_numpy(a), wk, torch.from_numpy(c))))
    ins = [env[v] for v in fused.operands]
    cfg = {"GROUP_M": 8, "num_warps": 4, "num_stages": 2, **FORMS[form]}
    if cfg.get("TMA"):
        assert kernel._descriptors(ins[kernel.a_index], wk, cfg) is not None
    dense = torch.empty(2, 3, n, dtype=torch.float16)
    kernel(ins, [dense], cfg)
    buf = torch.full((m, 304), float("nan"), dtype=torch.float16)
    padded = buf[:, :n].view(2, 3, n)
    kernel(ins, [padded], {**cfg, "PAD_STORES": 1} if pad_stores else cfg)
    want = reference(a.astype(np.float32) @ w.astype(np.float32), c.astype(np.float32))
    np.testing.assert_allclose(padded.float().numpy(), want, atol=4e-3)
    assert torch.equal(padded, dense)
    generated = form != "library" or library == "epilogue"  # (cuBLAS writes the N columns alone)
    assert bool(buf[:, n:].isnan().all()) == (not (pad_stores and generated))


def test_outputs_the_kernel_cannot_address_are_written_dense_and_copied(rng: np.random.Generator) -> None:
    """Outputs whose leading dimensions do not merge (a slice of a bigger tensor): written dense, then
    copied in; the values are the same."""
    k, n = 32, 40
    text = GEMM.format(a=ty((2, 3, k)), w=ty((k, n)), o=ty((2, 3, n)), bias=ty((n,)))
    module = parse_ir(text)
    PassManager("fuse-kernels,dce").run(module)
    fused = next(op for op in module.main.block.ops if op.name == "kernel.fused")
    kernel = kernel_for(fused)
    ins = [
        torch.from_numpy((rng.standard_normal(v.type.shape) / 4).astype(np.float16)) for v in fused.operands
    ]
    dense = torch.empty(2, 3, n, dtype=torch.float16)
    kernel(ins, [dense], None)
    big = torch.zeros(2, 5, n, dtype=torch.float16)
    kernel(ins, [big[:, 1:4]], None)
    assert torch.equal(big[:, 1:4], dense) and not big[:, 0].any() and not big[:, 4].any()


MODEL = """func.func @main(%x: tensor<2x3x64xf16>) -> (tensor<2x3x300xf16>, tensor<2x3x64xf16>) attributes {input_names = ["x"], output_names = ["logits", "act"]} {
  %w = nn.constant dense_resource<head.weight> : tensor<64x300xf16> loc("head")
  %a = nn.tanh %x : tensor<2x3x64xf16> loc("act")
  %y = nn.matmul %a, %w : (tensor<2x3x64xf16>, tensor<64x300xf16>) -> tensor<2x3x300xf16> loc("head")
  func.return %y, %a : tensor<2x3x300xf16>, tensor<2x3x64xf16>
}"""


def engine_and_input(rng: np.random.Generator) -> tuple:
    m = parse_ir(MODEL)
    m.resources["head.weight"] = (rng.standard_normal((64, 300)) / 8).astype(np.float16)
    x = (rng.standard_normal((2, 3, 64)) / 2).astype(np.float16)
    want = np.tanh(x.astype(np.float32)) @ m.resources["head.weight"].astype(np.float32)
    return tr.compile(m), x, want


def test_engine_output_with_padded_rows(monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator) -> None:
    """The logits (rows of 600 bytes) are written 304 elements apart; the context says so. Bound, the
    context's own buffer (``allocate_output``) gets its padding written; the caller's buffers of any
    evenly spaced rows, or dense, get the same values and keep everything else."""
    monkeypatch.setenv("TRITIUM_PAD_OUTPUTS", "1")
    engine, x, want = engine_and_input(rng)
    out = engine.create_execution_context().run({"x": torch.from_numpy(x)})["logits"]
    assert out.stride() == (3 * 304, 304, 1)
    np.testing.assert_allclose(out.float().numpy(), want, atol=4e-3)
    ctx = engine.create_execution_context()
    ctx.set_input_shape("x", (2, 3, 64))
    assert ctx.get_tensor_strides("logits") == (3 * 304, 304, 1)
    assert ctx.get_tensor_strides("act") == (3 * 64, 64, 1)  # (an elementwise kernel writes it dense)
    ctx.set_tensor_address("x", torch.from_numpy(x))
    ctx.set_tensor_address("act", torch.empty(2, 3, 64, dtype=torch.float16))
    nan = float("nan")
    mine = ctx.allocate_output("logits")  # the engine's padding: the GEMM may write it
    assert mine.stride() == (3 * 304, 304, 1)
    mine.as_strided((6 * 304,), (1,)).fill_(nan)
    ctx.set_tensor_address("logits", mine)
    assert ctx.execute_async_v3(0)
    np.testing.assert_allclose(mine.float().numpy(), out.float().numpy(), rtol=0, atol=0)
    assert not bool(mine.as_strided((6, 4), (304, 1), 300).isnan().any())
    for rows in (
        torch.full((6, 304), nan, dtype=torch.float16),  # the caller's matrix of the engine's row length
        torch.full((6, 320), nan, dtype=torch.float16),  # a wider one
        torch.full((12, 304), nan, dtype=torch.float16)[6:],  # rows of a taller one
    ):
        logits = rows[:, :300].view(2, 3, 300)
        ctx.set_tensor_address("logits", logits)
        assert ctx.execute_async_v3(0)
        np.testing.assert_allclose(logits.float().numpy(), out.float().numpy(), rtol=0, atol=0)
        assert bool(rows[:, 300:].isnan().all())  # the caller's other columns are kept
    # the engine's strides, the last row's padding past the memory (torch.empty_strided)
    logits = torch.empty_strided((2, 3, 300), ctx.get_tensor_strides("logits"), dtype=torch.float16)
    logits.as_strided((1820,), (1,)).fill_(nan)
    ctx.set_tensor_address("logits", logits)
    assert ctx.execute_async_v3(0)
    np.testing.assert_allclose(logits.float().numpy(), out.float().numpy(), rtol=0, atol=0)
    assert bool(logits.as_strided((5, 4), (304, 1), 300).isnan().all())
    dense = torch.empty(2, 3, 300, dtype=torch.float16)
    ctx.set_tensor_address("logits", dense)
    assert ctx.execute_async_v3(0)
    np.testing.assert_allclose(dense.float().numpy(), out.float().numpy(), rtol=0, atol=0)


@pytest.mark.parametrize("setting", [None, "0"])
def test_padding_off_and_layouts_refused(
    setting: str | None, monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator
) -> None:
    """``TRITIUM_PAD_OUTPUTS=0`` (and the CPU's default) keep dense rows; an output that no GEMM
    writes takes no padded buffer, and the error names the tensor and both layouts."""
    if setting is None:
        monkeypatch.delenv("TRITIUM_PAD_OUTPUTS", raising=False)
    else:
        monkeypatch.setenv("TRITIUM_PAD_OUTPUTS", setting)
    engine, x, _ = engine_and_input(rng)
    ctx = engine.create_execution_context()
    ctx.set_input_shape("x", (2, 3, 64))
    assert ctx.get_tensor_strides("logits") == (3 * 300, 300, 1)
    assert ctx.allocate_output("logits").is_contiguous()
    assert engine({"x": x})["logits"].strides == (2 * 900, 2 * 300, 2)  # (numpy's, in bytes)
    ctx.set_tensor_address("x", torch.from_numpy(x))
    ctx.set_tensor_address("logits", torch.empty(2, 3, 300, dtype=torch.float16))
    ctx.set_tensor_address("act", torch.empty(6, 72, dtype=torch.float16)[:, :64].view(2, 3, 64))
    with pytest.raises(TritiumError, match=r"tensor 'act' is bound to a non-contiguous .* as contiguous"):
        ctx.execute_async_v3(0)


def test_views_of_the_contexts_buffer_and_outputs_read_again(
    monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator
) -> None:
    """Only ``allocate_output``'s latest buffer, whole, is the engine's: a view of part of it is the
    caller's. An output that another kernel also reads (a softmax of the logits) takes no strided
    buffer: the error says so."""
    monkeypatch.setenv("TRITIUM_PAD_OUTPUTS", "1")
    engine, x, _ = engine_and_input(rng)
    ctx = engine.create_execution_context()
    ctx.set_input_shape("x", (2, 3, 64))
    mine = ctx.allocate_output("logits")
    assert ctx._allocated_here("logits", mine) and ctx._allocated_here("logits", mine[..., :300])
    for view in (mine[..., :290], mine[:1], mine[:, 1:]):  # (an output of another shape could be one)
        assert not ctx._allocated_here("logits", view)
    newer = ctx.allocate_output("logits")
    assert ctx._allocated_here("logits", newer) and not ctx._allocated_here("logits", mine)  # the latest
    m = parse_ir(
        MODEL.replace(
            "func.return %y, %a",
            """%s = nn.softmax %y {axis = -1} : tensor<2x3x300xf16> loc("sm")
  func.return %y, %s""",
        )
        .replace('output_names = ["logits", "act"]', 'output_names = ["logits", "prob"]')
        .replace(
            "tensor<2x3x300xf16>, tensor<2x3x64xf16>) attributes",
            "tensor<2x3x300xf16>, tensor<2x3x300xf16>) attributes",
        )
        .replace(
            ": tensor<2x3x300xf16>, tensor<2x3x64xf16>\n}", ": tensor<2x3x300xf16>, tensor<2x3x300xf16>\n}"
        )
    )
    m.resources["head.weight"] = (rng.standard_normal((64, 300)) / 8).astype(np.float16)
    engine = tr.compile(m)
    ctx = engine.create_execution_context()
    ctx.set_input_shape("x", (2, 3, 64))
    assert ctx.get_tensor_strides("logits") == (900, 300, 1)  # read again: not padded
    ctx.set_tensor_address("x", torch.from_numpy(x))
    ctx.set_tensor_address("prob", torch.empty(2, 3, 300, dtype=torch.float16))
    ctx.set_tensor_address("logits", torch.empty(6, 304, dtype=torch.float16)[:, :300].view(2, 3, 300))
    with pytest.raises(TritiumError, match=r"tensor 'logits' is bound to a non-contiguous .* as contiguous"):
        ctx.execute_async_v3(0)
