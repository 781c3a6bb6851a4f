"""The hand-written Hopper attention's host side, on the CPU (its kernel needs an sm_90 GPU:
``tests/gpu/test_gpu_attention_gluon.py``; CI compiles it for sm_90 in ``hopper.py``): the 2-D views
its TMA descriptors read, which attentions it takes, where its configs join tuning, and what a plan
that chose it does where it cannot run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.codegen import fused_kernels
from tritium.codegen import AttentionKernel, attention_gluon, kernel_for
from tritium.codegen.binaries import _built_with
from tritium.codegen.triton_env import kernel_identity


def ty(shape: tuple[int, ...], dt: str = "f16") -> str:
    return "tensor<" + "".join(f"{d}x" for d in shape) + dt + ">"


@pytest.mark.parametrize("layout", ["bhsd", "bshd", "broadcast-batch", "one-head"])
def test_each_position_is_its_row_and_column_of_the_view(layout: str) -> None:
    b, h, s, d = 3, 4, 8, 64
    if layout == "bhsd":
        x = torch.randn(b, h, s, d)
    elif layout == "bshd":  # heads as column blocks (a projection's output, viewed)
        x = torch.randn(b, s, h, d).transpose(1, 2)
    elif layout == "broadcast-batch":
        x = torch.randn(1, h, s, d).expand(b, h, s, d)
    else:
        x = torch.randn(b, s, 1, d).transpose(1, 2)
    view = attention_gluon._view(x)
    assert view is not None
    x2, rb, rh, ch = view
    for bi in range(x.shape[0]):
        for hi in range(x.shape[1]):
            for si in (0, s - 1):
                assert torch.equal(x2[bi * rb + hi * rh + si, hi * ch : hi * ch + d], x[bi, hi, si])


def test_no_view_where_tma_cannot_read() -> None:
    x = torch.randn(2, 4, 8, 128)
    assert attention_gluon._view(x[..., ::2]) is None  # the last axis strided
    assert attention_gluon._view(torch.randn(2, 4, 8, 65)[..., :64]) is None  # rows of 130 bytes


def test_which_attentions_it_takes() -> None:
    ok = {
        "dtype": "f16",
        "d": 64,
        "dv": 64,
        "sq": 256,
        "sk": 384,
        "mask": "row",
        "epilogue": False,
        "scale": 0.125,
    }
    assert attention_gluon.applies(**ok)
    for change in [
        {"dtype": "f32"},
        {"d": 80, "dv": 80},
        {"dv": 128},
        {"sq": 200},  # queries: whole 128-row tiles
        {"sk": 100},  # keys: whole 64-key blocks
        {"sq": 0},
        {"sk": 0},  # (no key block: the consumers would wait for one forever)
        {"mask": "other"},  # a mask per query, or boolean
        {"epilogue": True},
        {"scale": 0.0},  # (the row maximum is scaled, not each score: -inf * 0 would be NaN)
        {"scale": -0.1},
    ]:
        assert not attention_gluon.applies(**{**ok, **change}), change
    assert [c["BLOCK_N"] for c in attention_gluon.config_space(64, 384)] == [128, 128]
    assert [c["BLOCK_N"] for c in attention_gluon.config_space(64, 384, causal=True)] == [128, 128, 64]
    assert [c["BLOCK_N"] for c in attention_gluon.config_space(128, 320)] == [64]  # 128 does not divide 320


def _attention(mask: str = "", scale: float = 0.125, causal: bool = False) -> str:
    t, m = ty((2, 4, 256, 64)), ty((2, 1, 1, 256) if mask == "row" else (2, 4, 256, 256))
    operands = ", %m" if mask else ""
    types = f", {m}" if mask else ""
    return f"""func.func @main(%q: {t}, %k: {t}, %v: {t}{", %m: " + m if mask else ""}) -> {t} {{
  %y, %pk, %pv, %qk = nn.attention %q, %k, %v{operands} {{scale = {scale}{", is_causal = true" if causal else ""}}} : ({t}, {t}, {t}{types}) -> ({t}, {t}, {t}, {ty((2, 4, 256, 256))})
  func.return %y : {t}
}}"""


def test_configs_join_tuning_where_the_kernel_applies_and_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where it can run, its configs follow the generated ones from tuning level 1, and the timing
    cache's key names its code; where it cannot, neither."""
    text = _attention("row")
    (fused,) = fused_kernels(text)
    before = kernel_identity(kernel_for(fused))
    assert not any(c.get("GLUON") for c in kernel_for(fused).config_space(3))  # (the CPU: it cannot run)
    monkeypatch.setattr(attention_gluon, "available", lambda: True)
    kernel = kernel_for(fused)
    assert [c["BLOCK_N"] for c in kernel.config_space(1) if c.get("GLUON")] == [128, 128]
    assert not any(c.get("GLUON") for c in kernel.config_space(0))
    assert kernel_identity(kernel) != before
    (causal,) = fused_kernels(_attention("row", causal=True))  # (64-key blocks serve causal masks)
    assert [c["BLOCK_N"] for c in kernel_for(causal).config_space(1) if c.get("GLUON")] == [128, 128, 64]
    for other in (_attention("query"), _attention(scale=-0.125)):
        (f,) = fused_kernels(other)
        assert not any(c.get("GLUON") for c in kernel_for(f).config_space(3)), other


def test_a_chosen_gluon_config_runs_the_generated_kernel_where_gluon_cannot(rng: np.random.Generator) -> None:
    """A plan tuned on an H100 that chose the Gluon kernel, run where it cannot (here the CPU
    interpreter): the generated kernel computes the same attention."""
    t = ty((1, 2, 32, 16), "f32")
    text = f"""func.func @main(%q: {t}, %k: {t}, %v: {t}) -> {t} {{
  %y, %pk, %pv, %qk = nn.attention %q, %k, %v {{is_causal = true}} : ({t}, {t}, {t}) -> ({t}, {t}, {t}, {ty((1, 2, 32, 32), "f32")})
  func.return %y : {t}
}}"""
    (fused,) = fused_kernels(text)
    kernel = kernel_for(fused)
    q, k, v = (torch.from_numpy(rng.standard_normal((1, 2, 32, 16)).astype(np.float32)) for _ in range(3))
    out, want = torch.empty_like(q), torch.empty_like(q)
    kernel([q, k, v], [out], {"GLUON": 1, "BLOCK_N": 128, "STAGES": 2})
    kernel([q, k, v], [want], None)
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert torch.equal(out, want) and torch.allclose(out, ref, atol=1e-5)


def test_plans_keep_no_generated_variant_for_a_gluon_config() -> None:
    """A layer that runs the Gluon kernel ran none of its generated module's variants: the plan's
    binaries leave them out (a 128-key variant timed in tuning is not the chosen config)."""

    class Variant:  # what binaries reads of a compiled variant
        metadata = type("M", (), {"num_warps": 4, "num_stages": 2})()
        src = type(
            "S", (), {"constants": {(1,): 128}, "fn": type("F", (), {"arg_names": ["BLOCK_M", "BLOCK_N"]})()}
        )()

    assert _built_with(Variant(), {"BLOCK_N": 128, "num_warps": 4})
    assert not _built_with(Variant(), {"GLUON": 1, "BLOCK_N": 128, "STAGES": 2})


def test_a_plan_that_chose_the_gluon_kernel_loads_and_runs_where_it_cannot(
    tmp_path, monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator
) -> None:
    """Built as on an H100 whose tuning picked a Gluon config (here the configs are offered as there
    and a selector picks one), the plan records that config; run and reloaded on the CPU, where the
    kernel cannot run, the generated kernel computes the attention."""
    import tritium as tr
    import tritium.ir as ir
    from tritium.api import build_engine

    class OnlyGluon:
        def select_algorithms(self, context, choices):
            return [c.tactic for c in choices if c.config.get("GLUON")]

    t, s = ty((1, 2, 128, 64), "f32"), ty((1, 2, 128, 128), "f32")
    text = f"""func.func @main(%q: {t}, %k: {t}, %v: {t}) -> {t} attributes {{input_names = ["q", "k", "v"], output_names = ["y"]}} {{
  %y, %pk, %pv, %qk = nn.attention %q, %k, %v {{is_causal = true}} : ({t}, {t}, {t}) -> ({t}, {t}, {t}, {s})
  func.return %y : {t}
}}"""
    with monkeypatch.context() as m:  # (the configs offered as on an H100; the kernel itself cannot run)
        m.setattr(AttentionKernel, "_gluon_space", lambda self: attention_gluon.config_space(64, 128))
        engine = build_engine(ir.parse_ir(text), selector=OnlyGluon())
    (layer,) = [x for x in engine.inspect()["layers"] if x["template"] == "flash_attention"]
    assert layer["config"]["GLUON"] == 1 and layer["tactic"] == "Gluon (hand-written, warp-specialized)"
    q, k, v = (rng.standard_normal((1, 2, 128, 64)).astype(np.float32) for _ in range(3))
    want = torch.nn.functional.scaled_dot_product_attention(*map(torch.from_numpy, (q, k, v)), is_causal=True)
    engine.save(str(tmp_path / "a.plan"))
    for e in (engine, tr.load(str(tmp_path / "a.plan"))):
        y = e({"q": q, "k": k, "v": v})["y"]
        np.testing.assert_allclose(np.asarray(y), want.numpy(), atol=1e-5)
    assert tr.load(str(tmp_path / "a.plan")).inspect()["layers"][0]["config"]["GLUON"] == 1
