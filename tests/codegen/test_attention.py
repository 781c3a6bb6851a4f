"""The flash-attention template against the reference: masks (float, bool; one row of keys for all
queries, or one per query and head), causal, grouped-query heads, sizes that are not multiples of
the blocks, f16."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import tritium.ir as ir
from tests.codegen import fused_kernels
from tritium.codegen import AttentionKernel, kernel_for
from tritium.passes import PassManager


def ty(shape: tuple[int, ...], dt: str = "f32") -> str:
    return "tensor<" + "".join(f"{d}x" for d in shape) + dt + ">"


@pytest.mark.parametrize(
    "b,hq,hkv,sq,sk,d,mask,causal,dt,scale",
    [
        (2, 3, 3, 17, 23, 16, None, False, "f32", 0.2),
        (1, 4, 2, 9, 9, 32, "f32", False, "f32", 0.2),
        (2, 2, 1, 20, 20, 16, None, True, "f32", 0.2),
        (2, 2, 2, 5, 37, 64, "i1", False, "f32", 0.2),
        (1, 2, 2, 33, 33, 16, "f32", True, "f16", 0.2),
        (2, 2, 2, 7, 40, 24, "lowest", False, "f32", 0.2),
        (2, 2, 2, 19, 21, 16, "f32 full", False, "f32", 0.2),
        (1, 2, 2, 18, 18, 16, "i1 full", True, "f32", 0.2),
        (2, 2, 2, 7, 40, 24, "ninf", False, "f32", 0.2),
        (2, 2, 2, 7, 40, 24, "ninf full", False, "f16", 0.2),
        (
            2,
            3,
            3,
            17,
            23,
            16,
            "f32",
            True,
            "f16",
            -0.3,
        ),  # f16: a row of keys all under -1e4 sits at f32's ulp of 1e4
        (2, 3, 3, 17, 23, 16, None, False, "f16", -0.3),
    ],
)
@pytest.mark.parametrize("sizes", ["none", "attention"], ids=["sizes", "constant-sizes"])
def test_attention_matches_reference(
    b, hq, hkv, sq, sk, d, mask, causal, dt, scale, sizes: str, rng: np.random.Generator, monkeypatch
) -> None:
    """``scale`` is the scores' factor: a negative one may not take the maximum before scaling.
    With ``TRITIUM_CONSTEXPR_SIZES=attention`` the sequence lengths and head counts are constants."""
    monkeypatch.setenv("TRITIUM_CONSTEXPR_SIZES", sizes)
    q, k, v = (b, hq, sq, d), (b, hkv, sk, d), (b, hkv, sk, d)
    full = mask is not None and mask.endswith(" full")  # a mask per query and head, not one row of keys
    mask = mask.split()[0] if mask else mask
    mshape = (b, hq, sq, sk) if full else (b, 1, 1, sk)
    lowest = mask == "lowest"  # batch 0's keys all masked by float32's lowest value (HF's mask value)
    ninf = mask == "ninf"  # batch 0's keys all masked by -inf: zeros, not a uniform mean
    mask = dt if mask in ("f32", "lowest", "ninf") else mask  # a float mask has the queries' type
    margs = f", %m: {ty(mshape, mask)}" if mask else ""
    mop = ", %m" if mask else ""
    mty = f", {ty(mshape, mask)}" if mask else ""
    text = f"""func.func @main(%q: {ty(q, dt)}, %k: {ty(k, dt)}, %v: {ty(v, dt)}{margs}) -> {ty(q, dt)} {{
  %y, %pk, %pv, %qk = nn.attention %q, %k, %v{mop} {{is_causal = {str(causal).lower()}, scale = {scale}}} : ({ty(q, dt)}, {ty(k, dt)}, {ty(v, dt)}{mty}) -> ({ty(q, dt)}, {ty(k, dt)}, {ty(v, dt)}, {ty((b, hq, sq, sk), dt)})
  func.return %y : {ty(q, dt)}
}}"""
    module, ref = ir.parse_ir(text), ir.parse_ir(text)
    PassManager("fuse-kernels,dce").run(module)
    fused = next(op for op in module.main.block.ops if op.name == "kernel.fused")
    kernel = kernel_for(fused)
    assert isinstance(kernel, AttentionKernel)
    assert ("rm[:, None] * sm_q" in kernel.source) == full  # a row mask loads as a row
    assert (" SK: tl.constexpr," in kernel.source) == (sizes != "none")
    npdt = np.float16 if dt == "f16" else np.float32
    inputs = [rng.standard_normal(s).astype(npdt) for s in (q, k, v)]
    if mask in ("f32", "f16"):
        m = np.where(rng.random(mshape) < 0.3, -1e4, 0.0).astype(npdt)
        if lowest:  # softmax over equal scores: the mean of v, not zeros (40 keys: whole and partial tiles)
            m[0] = np.finfo(np.float32).min
        if ninf:
            m[0] = -np.inf
        inputs.append(m)
    elif mask == "i1":
        m = rng.random(mshape) < 0.7
        m[..., 0] = True
        inputs.append(m)
    want = ir.run_reference(ref, inputs)[0]
    env = dict(zip(module.main.args, (torch.from_numpy(x) for x in inputs)))
    got = torch.empty(q, dtype=torch.float16 if dt == "f16" else torch.float32)
    kernel([env[x] for x in fused.operands], [got])
    err = np.linalg.norm(got.numpy().astype(np.float64) - want) / np.linalg.norm(want)
    assert err < (2e-3 if dt == "f16" else 1e-5), err


def _quantized_attention(b: int, h: int, s: int, d: int, extra: str = "", quantize: bool = True) -> str:
    """Attention, then x / s cast to e4m3 (or, without ``quantize``, the f16 attention output)."""
    o, f, q8 = ty((b, h, s, d), "f16"), ty((b, h, s, d)), ty((b, h, s, d), "f8E4M3FN")
    ret = f"%z : {q8}" if quantize else f"%y : {o}"
    return f"""func.func @main(%q: {o}, %k: {o}, %v: {o}{extra}) -> {ret.split(" : ")[1]} {{
  %y, %pk, %pv, %qk = nn.attention %q, %k, %v : ({o}, {o}, {o}) -> ({o}, {o}, {o}, {ty((b, h, s, s), "f16")})
  %x = nn.cast %y {{to = f32}} : ({o}) -> {f}
  %c = nn.constant dense<0.004> : tensor<f32>
  %t = nn.div %x, {"%w" if extra else "%c"} : ({f}, {ty((d,)) if extra else "tensor<f32>"}) -> {f}
  %z = nn.cast %t {{to = f8E4M3FN, saturate = true}} : ({f}) -> {q8}
  func.return {ret}
}}"""


def test_attention_epilogue_quantizes_its_own_output(rng: np.random.Generator) -> None:
    """An FP8 network's quantize of the attention output (x / s, a saturating cast to e4m3) runs in
    the attention kernel's epilogue, on the output rounded to f16 first: bit for bit what quantizing
    the kernel's f16 output gives (30 queries and keys: whole and partial tiles)."""
    import ml_dtypes

    b, h, s, d = 2, 3, 30, 16
    fused = fused_kernels(_quantized_attention(b, h, s, d))
    assert len(fused) == 1, fused  # the quantize joined the attention kernel
    kernel = kernel_for(fused[0])
    assert isinstance(kernel, AttentionKernel) and "tl.float8e4nv" in kernel.source
    inputs = [torch.from_numpy(rng.standard_normal((b, h, s, d)).astype(np.float16)) for _ in range(3)]
    got = torch.empty((b, h, s, d), dtype=torch.float8_e4m3fn)
    kernel(inputs, [got])
    plain = fused_kernels(_quantized_attention(b, h, s, d, quantize=False), "dce,fuse-kernels,dce")
    y = torch.empty((b, h, s, d), dtype=torch.float16)
    kernel_for(plain[0])(inputs, [y])
    want = np.clip(y.numpy().astype(np.float32) / np.float32(0.004), -448, 448).astype(
        ml_dtypes.float8_e4m3fn
    )
    assert np.array_equal(got.view(torch.uint8).numpy(), want.view(np.uint8))
    ref = ir.run_reference(ir.parse_ir(_quantized_attention(b, h, s, d)), [x.numpy() for x in inputs])[0]
    close = (
        np.abs(ref.astype(np.float32) - want.astype(np.float32)) <= np.abs(ref.astype(np.float32)) / 8 + 1e-3
    )
    assert close.mean() > 0.99  # (the f16 attention itself is within an f16 step of the reference)


def test_attention_epilogue_takes_scalar_constants_only() -> None:
    """A per-column divisor is an input the attention kernel does not load: the division stays out."""
    fused = fused_kernels(_quantized_attention(1, 2, 8, 16, extra=f", %w: {ty((16,))}"))
    kinds = [kernel_for(op).kind for op in fused]
    assert kinds[0] == "flash_attention" and len(fused) == 2, kinds


def test_attention_epilogue_takes_plain_arithmetic_only() -> None:
    """An op outside the templates' plain arithmetic (a non-saturating cast to e5m2, which has no
    generated form) stays out: in the epilogue it would send the attention itself to the host."""
    o, q8 = ty((1, 2, 8, 16), "f16"), ty((1, 2, 8, 16), "f8E5M2")
    text = f"""func.func @main(%q: {o}, %k: {o}, %v: {o}) -> {q8} {{
  %y, %pk, %pv, %qk = nn.attention %q, %k, %v : ({o}, {o}, {o}) -> ({o}, {o}, {o}, {ty((1, 2, 8, 8), "f16")})
  %z = nn.cast %y {{to = f8E5M2, saturate = false}} : ({o}) -> {q8}
  func.return %z : {q8}
}}"""
    fused = fused_kernels(text)
    assert len(fused) == 2 and isinstance(kernel_for(fused[0]), AttentionKernel)


CASES = Path(__file__).parent / "attention_cases"
EPILOGUE_CASES = {  # case -> the attention kernel's name after the default pipeline
    "clip_max": "attention",  # a clip with its upper bound only (an optional operand left out)
    "dyn_shapeq": "attention_mul",  # a shape query of the head merge: moved once the shapes are fixed
    "dyn_reshape_from_shape": "attention_mul",  # the merge's shape computed from the tensor's own
    "rank5": "attention",  # a scalar of rank 5: the op cannot move onto the rank-4 attention output
    "host_rank": "attention",  # ... nor join its epilogue (it would broadcast the output)
    "twice": "attention_mul_sub",  # one op before the merge, one after
    "host_via_views": "attention",  # a non-saturating cast to e5m2 (runs on the host) stays after it
    "twochains": "attention",  # the output read twice: nothing moves
    "where": "attention",  # an op outside the plain arithmetic
    "prec": "attention_mul",
    "shapeq": "attention_mul",  # a shape query of the attention output itself
    "argshape": "attention_mul",  # the merge's shape an input: the moved reshape keeps its type
}


@pytest.mark.parametrize("case", sorted(EPILOGUE_CASES))
def test_attention_epilogue_cases_match_reference(case: str, rng: np.random.Generator) -> None:
    """Whole pipelines (canonicalize moving ops above the head merge, fusion into the attention
    kernel's epilogue) on the cases a review built to break them: the outputs equal the reference's
    (to f32 rounding), the attention always runs generated, and fuses what it should."""
    import tritium as tr

    text = (CASES / f"{case}.tir").read_text()
    fn = ir.parse_ir(text).main
    inputs = []
    for a in fn.args:
        shape = tuple(d if isinstance(d, int) else 2 for d in a.type.shape)
        x = np.array([1, 8, 32]) if a.type.dtype.name == "i64" else rng.standard_normal(shape)  # (argshape)
        inputs.append(x.astype(a.type.dtype.np_dtype))
    want = tr.compile(ir.parse_ir(text), backend="reference")(inputs)
    engine = tr.compile(ir.parse_ir(text))
    got = engine(inputs)
    for k in want:
        w, g = np.asarray(want[k]).astype(np.float64), np.asarray(got[k]).astype(np.float64)
        assert w.shape == g.shape and np.allclose(g, w, rtol=1e-5, atol=1e-6), (k, np.abs(g - w).max())
    layers = engine.inspect({n: x.shape for n, x in zip(engine.input_names, inputs)})["layers"]
    attention = [layer for layer in layers if (layer["kernel"] or "").startswith("attention")]
    assert [layer["kernel"] for layer in attention] == [EPILOGUE_CASES[case]], layers
    assert attention[0]["tactic"] == "generated Triton"


@pytest.mark.parametrize("d", [64, 128])
def test_config_space_keeps_a_wide_head_in_registers(d: int) -> None:
    """At head size 128 the 128-row tiles run on 8 warps (on 4 they spilled, compiled for sm_90: 168
    bytes at 128 x 64); at 64 the measured 4-warp tiles stay."""
    t = ty((2, 4, 40, d), "f16")
    text = f"""func.func @main(%q: {t}, %k: {t}, %v: {t}) -> {t} {{
  %y, %pk, %pv, %qk = nn.attention %q, %k, %v {{is_causal = false, scale = 0.1}} : ({t}, {t}, {t}) -> ({t}, {t}, {t}, {ty((2, 4, 40, 40), "f16")})
  func.return %y : {t}
}}"""
    (fused,) = fused_kernels(text)
    space = kernel_for(fused).config_space(3)
    warps = {c["num_warps"] for c in space if c["BLOCK_M"] == 128}
    assert warps == ({8} if d == 128 else {4, 8})


@pytest.mark.parametrize("sizes", ["", "attention"], ids=["default", "attention"])
def test_default_constant_sizes_only_where_shapes_are_static(sizes: str, monkeypatch) -> None:
    """Unset, ``TRITIUM_CONSTEXPR_SIZES`` makes attention's sizes constants in an engine of static
    shapes, not in one with dynamic inputs (the zoo's BERT: batch and sequence), which builds a
    program per shape and would compile a binary per sequence length; named explicitly, it does
    both."""
    import tritium as tr
    from tests.models.nets import MODELS, exported

    monkeypatch.setenv("TRITIUM_CONSTEXPR_SIZES", sizes)
    engine = tr.compile(str(exported("bert", "legacy")))
    assert any(not engine._types[n].is_static for n in engine.input_names)
    shapes = {k: v.shape for k, v in MODELS["bert"].inputs(np.random.default_rng(0), False).items()}
    kernels = [s.kernel for s in engine.program(shapes).steps if isinstance(s.kernel, AttentionKernel)]
    assert kernels and all((" SK: tl.constexpr," in k.source) == bool(sizes) for k in kernels)
    t = ty((2, 4, 24, 16))
    text = f"""func.func @main(%q: {t}, %k: {t}, %v: {t}) -> {t} {{
  %y, %pk, %pv, %qk = nn.attention %q, %k, %v : ({t}, {t}, {t}) -> ({t}, {t}, {t}, {ty((2, 4, 24, 24))})
  func.return %y : {t}
}}"""
    static = tr.compile(ir.parse_ir(text))
    steps = static.program(dict.fromkeys(static.input_names, (2, 4, 24, 16))).steps
    (kernel,) = [s.kernel for s in steps if isinstance(s.kernel, AttentionKernel)]
    assert " SK: tl.constexpr," in kernel.source
