"""The GEMM template against the reference: odd sizes, batch folding and broadcasting, epilogues."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tritium.codegen.gemm as gemm_module
import tritium.ir as ir
from tritium.codegen import MatmulKernel, kernel_for
from tritium.codegen.gemm_forms import store_descriptors
from tritium.passes import PassManager


def ty(shape: tuple[int, ...], dt: str = "f32") -> str:
    return "tensor<" + "".join(f"{d}x" for d in shape) + dt + ">"


def run(
    text: str, rng: np.random.Generator, np_dt=np.float32
) -> tuple[list[np.ndarray], list[np.ndarray], MatmulKernel]:
    module, ref = ir.parse_ir(text), ir.parse_ir(text)
    PassManager("fuse-kernels,dce").run(module)
    fused = next(op for op in module.main.block.ops if op.name == "kernel.fused")
    kernel = kernel_for(fused)
    assert isinstance(kernel, MatmulKernel), ir.print_ir(module)
    inputs = [(rng.standard_normal(a.type.shape) / 4).astype(np_dt) for a in module.main.args]
    want = ir.run_reference(ref, inputs)
    env = dict(zip(module.main.args, (torch.from_numpy(x) for x in inputs)))
    outs = [torch.empty(r.type.shape, dtype=torch.from_numpy(want[0]).dtype) for r in fused.results]
    kernel([env[v] for v in fused.operands], outs)
    return [o.numpy() for o in outs], want, kernel


def rel(a: np.ndarray, b: np.ndarray) -> float:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return float(np.linalg.norm(a64 - b64) / max(np.linalg.norm(b64), 1e-30))


@pytest.mark.parametrize("m,n,k", [(33, 17, 45), (1, 64, 8), (64, 1, 70), (5, 7, 3)])
def test_plain(m: int, n: int, k: int, rng: np.random.Generator) -> None:
    text = f"""func.func @main(%a: {ty((m, k))}, %b: {ty((k, n))}) -> {ty((m, n))} {{
  %y = nn.matmul %a, %b : ({ty((m, k))}, {ty((k, n))}) -> {ty((m, n))}
  func.return %y : {ty((m, n))}
}}"""
    got, want, _ = run(text, rng)
    assert rel(got[0], want[0]) < 1e-5


def test_fold_batch_with_bias_gelu_like_epilogue_and_residual(rng: np.random.Generator) -> None:
    s = (2, 9, 24)
    text = f"""func.func @main(%x: {ty(s)}, %w: {ty((24, 40))}, %b: {ty((40,))}, %r: {ty((2, 9, 40))}) -> {ty((2, 9, 40))} {{
  %y = nn.matmul %x, %w : ({ty(s)}, {ty((24, 40))}) -> {ty((2, 9, 40))}
  %z = nn.add %y, %b : ({ty((2, 9, 40))}, {ty((40,))}) -> {ty((2, 9, 40))}
  %t = nn.tanh %z : {ty((2, 9, 40))}
  %o = nn.add %t, %r : {ty((2, 9, 40))}
  func.return %o : {ty((2, 9, 40))}
}}"""
    got, want, kernel = run(text, rng)
    assert kernel.fold and "batch folded into M" in kernel.source
    assert rel(got[0], want[0]) < 1e-5


def test_batched_with_broadcast_batch_dims(rng: np.random.Generator) -> None:
    a, b, o = (2, 3, 7, 16), (1, 3, 16, 5), (2, 3, 7, 5)
    text = f"""func.func @main(%a: {ty(a)}, %b: {ty(b)}, %s: {ty((2, 1, 1, 5))}) -> {ty(o)} {{
  %y = nn.matmul %a, %b : ({ty(a)}, {ty(b)}) -> {ty(o)}
  %z = nn.mul %y, %s : ({ty(o)}, {ty((2, 1, 1, 5))}) -> {ty(o)}
  func.return %z : {ty(o)}
}}"""
    got, want, kernel = run(text, rng)
    assert not kernel.fold
    assert rel(got[0], want[0]) < 1e-5


@pytest.mark.parametrize(
    "side", [(2, 1, 1, 1), (2, 3, 1, 1), (1, 3, 7, 1)], ids=["batch", "batch-2d", "rows"]
)
def test_batched_side_input_constant_along_the_tile(side: tuple, rng: np.random.Generator) -> None:
    """A batched GEMM's epilogue operand that varies only along the batch dims (one value per
    matrix: its offset is a scalar, so it loads unmasked) or only along the rows."""
    a, b, o = (2, 3, 7, 16), (1, 3, 16, 5), (2, 3, 7, 5)
    text = f"""func.func @main(%a: {ty(a)}, %b: {ty(b)}, %s: {ty(side)}) -> {ty(o)} {{
  %y = nn.matmul %a, %b : ({ty(a)}, {ty(b)}) -> {ty(o)}
  %z = nn.mul %y, %s : ({ty(o)}, {ty(side)}) -> {ty(o)}
  func.return %z : {ty(o)}
}}"""
    got, want, kernel = run(text, rng)
    assert not kernel.fold
    assert rel(got[0], want[0]) < 1e-5


def test_half_precision(rng: np.random.Generator) -> None:
    text = f"""func.func @main(%a: {ty((20, 48), "f16")}, %b: {ty((48, 24), "f16")}) -> {ty((20, 24), "f16")} {{
  %y = nn.matmul %a, %b : ({ty((20, 48), "f16")}, {ty((48, 24), "f16")}) -> {ty((20, 24), "f16")}
  %r = nn.relu %y : {ty((20, 24), "f16")}
  func.return %r : {ty((20, 24), "f16")}
}}"""
    got, want, _ = run(text, rng, np.float16)
    assert rel(got[0], want[0]) < 1e-2


LIBRARY_CASES = {
    "matmul": """func.func @main(%a: {a}, %b: {w}) -> {o} {{
  %y = nn.matmul %a, %b : ({a}, {w}) -> {o}
  func.return %y : {o}
}}""",
    "addmm": """func.func @main(%a: {a}, %b: {w}, %c: {bias}) -> {o} {{
  %y = nn.matmul %a, %b : ({a}, {w}) -> {o}
  %z = nn.add %y, %c : ({o}, {bias}) -> {o}
  func.return %z : {o}
}}""",
    "epilogue": """func.func @main(%a: {a}, %b: {w}, %c: {bias}, %r: {o}) -> {o} {{
  %y = nn.matmul %a, %b : ({a}, {w}) -> {o}
  %z = nn.add %y, %c : ({o}, {bias}) -> {o}
  %t = nn.tanh %z : {o}
  %u = nn.add %t, %r : {o}
  func.return %u : {o}
}}""",
}


@pytest.mark.parametrize("form", list(LIBRARY_CASES))
@pytest.mark.parametrize("batched", [False, True])
def test_library_tactic(form: str, batched: bool, rng: np.random.Generator) -> None:
    """The cuBLAS tactic (torch's matmul, here on the CPU): the bare product and the bias form
    write the output directly; other epilogues run in the generated twin."""
    a, w, o = (
        ((2, 3, 9, 24), (2, 3, 24, 40), (2, 3, 9, 40)) if batched else ((2, 9, 24), (24, 40), (2, 9, 40))
    )
    text = LIBRARY_CASES[form].format(a=ty(a, "f16"), w=ty(w, "f16"), o=ty(o, "f16"), bias=ty((40,), "f16"))
    module, ref = ir.parse_ir(text), ir.parse_ir(text)
    PassManager("fuse-kernels,dce").run(module)
    fused = next(op for op in module.main.block.ops if op.name == "kernel.fused")
    kernel = kernel_for(fused)
    assert isinstance(kernel, MatmulKernel) and kernel.fold == (not batched)
    assert kernel.library == ("epilogue" if batched and form == "addmm" else form)
    assert (f"def {kernel.name}_epilogue(" in kernel.source) == (kernel.library == "epilogue")
    inputs = [(rng.standard_normal(x.type.shape) / 4).astype(np.float16) for x in module.main.args]
    want = ir.run_reference(ref, inputs)[0].astype(np.float32)
    env = dict(zip(module.main.args, (torch.from_numpy(x) for x in inputs)))
    got = torch.empty(o, dtype=torch.float16)
    kernel([env[v] for v in fused.operands], [got], kernel.library_config())
    assert rel(got.numpy(), want) < 2e-3


def test_no_library_tactic_in_f32(rng: np.random.Generator) -> None:
    _, _, kernel = run(LIBRARY_CASES["matmul"].format(a=ty((4, 8)), w=ty((8, 4)), o=ty((4, 4))), rng)
    assert kernel.library_config() is None and "_epilogue(" not in kernel.source
    with pytest.raises(Exception, match="no library tactic"):
        kernel([torch.zeros(4, 8), torch.zeros(8, 4)], [torch.empty(4, 4)], {"LIBRARY": 1})


def bias_gemm(a: tuple, n: int, kmajor: bool, rng: np.random.Generator) -> tuple:
    """(kernel, fused op, operands by value, float32 reference, [x, w, bias]) of an f16 GEMM + bias
    epilogue over activations of shape ``a`` with n columns; the weight held K-major (a transposed
    view) if asked."""
    k = a[-1]
    text = LIBRARY_CASES["epilogue"].format(
        a=ty(a, "f16"), w=ty((k, n), "f16"), o=ty((*a[:-1], n), "f16"), bias=ty((n,), "f16")
    )
    module, ref = ir.parse_ir(text), ir.parse_ir(text)
    PassManager("fuse-kernels,dce").run(module)
    fused = next(op for op in module.main.block.ops if op.name == "kernel.fused")
    inputs = [(rng.standard_normal(x.type.shape) / 4).astype(np.float16) for x in module.main.args]
    want = ir.run_reference(ref, inputs)[0].astype(np.float32)
    ts = [torch.from_numpy(x) for x in inputs]
    if kmajor:
        ts[1] = ts[1].t().contiguous().t()
    return kernel_for(fused), fused, dict(zip(module.main.args, ts)), want, ts


@pytest.mark.parametrize(
    "k,kmajor,persistent,split,store",
    [
        (48, False, 0, 0, 0),
        (48, True, 0, 0, 1),
        (20, False, 0, 0, 1),
        (48, False, 1, 0, 0),
        (48, True, 1, 0, 1),
        (48, True, 2, 0, 1),
        (48, False, 0, 1, 1),
        (48, True, 1, 1, 0),
        (48, True, 2, 1, 1),
    ],
)
def test_tma_variant(
    k: int,
    kmajor: bool,
    persistent: int,
    split: int,
    store: int,
    rng: np.random.Generator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The tensor-descriptor (TMA) variant, row-major and K-major weights, one tile per program or
    persistent (4 programs step through 3 x 3 tiles under the interpreter), warp-specialized or not
    (2: the flag the interpreter runs as the same loop), the epilogue on the whole tile or on its
    column halves in turn (split; 40 columns: the last tile's second half is all masked), the
    output stored by pointers or by a tensor descriptor (store; 33 rows: the last tile row is
    clipped); rows that TMA cannot address (20 f16 = 40 bytes, not a multiple of 16) fall back to
    the pointer kernel."""
    kernel, fused, env, want, ts = bias_gemm((3, 11, k), 40, kmajor, rng)
    assert f"def {kernel.name}_tma(" in kernel.source and f"def {kernel.name}_persistent(" in kernel.source
    got = torch.empty((3, 11, 40), dtype=torch.float16)
    cfg = {
        "TMA": 1,
        "PERSISTENT": int(persistent > 0),
        "WS": int(persistent == 2),
        "SPLIT": split,
        "TMA_STORE": store,
        "BLOCK_M": 16,
        "BLOCK_N": 16,
        "BLOCK_K": 16,
    }
    assert (kernel._descriptors(ts[0], ts[1], cfg) is None) == (k == 20)
    made, real = [], gemm_module.store_descriptors

    def spy(outputs: list, config: dict) -> list | None:
        made.append(real(outputs, config))
        return made[-1]

    monkeypatch.setattr(gemm_module, "store_descriptors", spy)
    kernel([env[v] for v in fused.operands], [got], cfg)
    assert len(made) == (store if k != 20 else 0) and all(d is not None for d in made)
    assert rel(got.numpy(), want) < 2e-3


def test_store_descriptors_only_where_tma_addresses_the_output() -> None:
    """Rows of 40 f16 (80 bytes) take a tensor descriptor; rows of 20 (40 bytes, not a multiple of 16)
    or a strided output do not: the epilogue then stores through pointers."""
    cfg = {"BLOCK_M": 16, "BLOCK_N": 16, "SPLIT": 0}
    assert store_descriptors([torch.empty(3, 11, 40, dtype=torch.float16)], cfg) is not None
    assert store_descriptors([torch.empty(3, 11, 20, dtype=torch.float16)], cfg) is None
    assert store_descriptors([torch.empty(40, 33, dtype=torch.float16).t()], cfg) is None


@pytest.mark.parametrize(
    "m,n,k,kmajor,store",
    [
        (33, 40, 48, False, 0),
        (33, 40, 80, True, 1),
        (33, 40, 16, False, 1),
        (9, 16, 32, False, 0),
        (100, 40, 48, False, 1),
    ],
)
def test_streamk_variant(m: int, n: int, k: int, kmajor: bool, store: int, rng: np.random.Generator) -> None:
    """Stream-K: 4 programs under the interpreter. 3 x 3 tiles of k / 16 K steps: one round of whole
    tiles (4), then the other 5 tiles' K steps split between the programs (partials handed over
    through the workspace to the program holding the tile's first K steps, which adds them in
    program order and runs the epilogue); 16: one K step per tile, no tile split; 9 x 16 x 32: one
    tile of two K steps, fewer than 4 programs (two run: an idle one would never raise the flag its
    tile's finisher waits for); 100 x 40: 21 tiles, four rounds of whole tiles before the split.
    Twice in a row: the flags must be back at zero after each launch."""
    kernel, fused, env, want, _ = bias_gemm((1, m, k), n, kmajor, rng)
    assert f"def {kernel.name}_streamk(" in kernel.source
    o = (1, m, n)
    cfg = {"TMA": 1, "STREAMK": 1, "TMA_STORE": store, "BLOCK_M": 16, "BLOCK_N": 16, "BLOCK_K": 16}
    for _ in range(2):
        got = torch.empty(o, dtype=torch.float16)
        kernel([env[v] for v in fused.operands], [got], cfg)
        assert rel(got.numpy(), want) < 2e-3
        (flags,) = [ws[1] for ws in kernel._workspaces.by_key.values()]
        assert int(flags.abs().sum()) == 0


def test_two_blocks_per_sm_candidate(monkeypatch: pytest.MonkeyPatch) -> None:
    """BERT's FFN1 (4096 x 768 x 3072) on an H100/H200 (TMA, 132 SMs): 128 x 128 tiles are tried with
    one warpgroup first, and also at 2 stages with a TMA store, small enough in shared memory for two
    blocks per SM."""
    from tritium.codegen import triton_env

    for name, value in (("tma_available", True), ("persistent_available", True), ("sm_count", 132)):
        monkeypatch.setattr(triton_env, name, lambda v=value: v)
    m, k, n = 4096, 768, 3072
    text = LIBRARY_CASES["epilogue"].format(
        a=ty((m, k), "f16"), w=ty((k, n), "f16"), o=ty((m, n), "f16"), bias=ty((n,), "f16")
    )
    module = ir.parse_ir(text)
    PassManager("fuse-kernels,dce").run(module)
    space = kernel_for(next(op for op in module.main.block.ops if op.name == "kernel.fused")).config_space(1)
    tiles = [c for c in space if (c["BLOCK_M"], c["BLOCK_N"]) == (128, 128) and not c.get("PERSISTENT")]
    assert tiles[0]["num_warps"] == 4 and tiles[0]["num_stages"] == 3
    two = {**tiles[0], "num_stages": 2}
    assert two in space and two["TMA_STORE"] == 1


@pytest.mark.parametrize("k", [16, 48, 200])
@pytest.mark.parametrize(
    "form",
    [{}, {"TMA": 1}, {"TMA": 1, "PERSISTENT": 1}, {"TMA": 1, "STREAMK": 1}, {"SPLIT_K": 2}, {"LIBRARY": 1}],
    ids=["pointers", "tma", "persistent", "streamk", "split-k", "library"],
)
def test_short_static_k_as_a_compile_time_constant(
    k: int, form: dict, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under ``TRITIUM_CONSTEXPR_SIZES=gemm`` a static K of at most 128 is a constant of every jitted form
    (48: not a multiple of BLOCK_K, the last step masked), a longer one stays an argument; each form
    computes the product either way. Without the switch no form takes K as a constant."""
    monkeypatch.setenv("TRITIUM_CONSTEXPR_SIZES", "gemm")
    kernel, fused, env, want, _ = bias_gemm((2, 19, k), 40, False, rng)
    forms = kernel.source.count("@triton.jit")
    assert forms >= 5 and kernel.source.count(" K: tl.constexpr,") == (forms if k <= 128 else 0)
    cfg = {"BLOCK_M": 16, "BLOCK_N": 16, "BLOCK_K": 32, "num_warps": 4, "num_stages": 1, **form}
    got = torch.empty((2, 19, 40), dtype=torch.float16)
    kernel([env[v] for v in fused.operands], [got], cfg)
    assert rel(got.numpy(), want) < 2e-3
    monkeypatch.delenv("TRITIUM_CONSTEXPR_SIZES")
    assert " K: tl.constexpr," not in bias_gemm((2, 19, k), 40, False, rng)[0].source


def test_constexpr_sizes_switch_names_what_it_does_not_know(monkeypatch: pytest.MonkeyPatch) -> None:
    """``TRITIUM_CONSTEXPR_SIZES`` takes kernel families, "all" or "none" (unset: attention only); a
    misspelt family is an error that names it and what the switch takes, raised from the build (not a
    silent no-op)."""
    import tritium as tr
    from tritium.codegen.triton_env import CONSTEXPR_FAMILIES, constexpr_sizes

    monkeypatch.setenv("TRITIUM_CONSTEXPR_SIZES", "all")
    assert all(constexpr_sizes(f) for f in CONSTEXPR_FAMILIES)
    monkeypatch.setenv("TRITIUM_CONSTEXPR_SIZES", "none")
    assert not any(constexpr_sizes(f) for f in CONSTEXPR_FAMILIES)
    monkeypatch.delenv("TRITIUM_CONSTEXPR_SIZES")
    assert [f for f in CONSTEXPR_FAMILIES if constexpr_sizes(f)] == ["attention"]
    monkeypatch.setenv("TRITIUM_CONSTEXPR_SIZES", "none,gemm")
    with pytest.raises(
        ValueError, match="combines none with gemm: none turns every family off and stands alone"
    ):
        constexpr_sizes("gemm")
    monkeypatch.setenv("TRITIUM_CONSTEXPR_SIZES", "gemm, convs")
    with pytest.raises(ValueError, match="names convs: expected kernel families from gemm, conv, attention"):
        constexpr_sizes("gemm")
    text = f"""func.func @main(%a: {ty((5, 8))}, %b: {ty((8, 4))}) -> {ty((5, 4))} {{
  %y = nn.matmul %a, %b : ({ty((5, 8))}, {ty((8, 4))}) -> {ty((5, 4))}
  func.return %y : {ty((5, 4))}
}}"""
    with pytest.raises(ValueError, match="TRITIUM_CONSTEXPR_SIZES names convs"):
        tr.compile(ir.parse_ir(text))({"a": np.ones((5, 8), np.float32), "b": np.ones((8, 4), np.float32)})


def test_no_warp_specialized_tile_loop_over_one_constant_k_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """Triton 3.6-3.9 fail to compile the warp-specialized persistent GEMM whose constant K is one
    BLOCK_K (the K loop folds away; seen on the H100): with a constant K of 64 the Hopper space
    (TMA and persistent forms, as on a GPU) warp-specializes only tiles that take K in two or more
    steps; with K as an argument, also the 64-deep ones."""
    import tritium.codegen.triton_env as env
    from tests.codegen import gemm_gelu_residual, one_kernel

    for name in ("tma_available", "persistent_available"):
        monkeypatch.setattr(env, name, lambda: True)
    monkeypatch.setattr(env, "sm_count", lambda: 132)
    depths = {}
    for sizes in ("gemm", "none"):
        monkeypatch.setenv("TRITIUM_CONSTEXPR_SIZES", sizes)
        kernel = one_kernel(gemm_gelu_residual(9000, 64, 200))[2]
        depths[sizes] = [c["BLOCK_K"] for c in kernel.config_space(3) if c.get("WS")]
    assert depths["gemm"] and all(k < 64 for k in depths["gemm"]), depths
    assert any(k >= 64 for k in depths["none"]), depths
