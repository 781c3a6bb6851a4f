"""The hand-written Hopper attention (``codegen/attention_gluon.py``) on an sm_90 GPU (skipped
elsewhere): against torch's attention in float32 for every form it takes (plain, causal, BERT's key
row with fully masked batch elements, grouped heads, heads as column blocks of a [B, S, H * D]
tensor, an output view, bfloat16, head size 128), and chosen by tuning inside an engine."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gpu


def _needs_gluon() -> None:
    from tritium.codegen import attention_gluon

    if not attention_gluon.available():
        pytest.skip("needs an sm_90 GPU and Triton's Gluon")


def _reference(q, k, v, mask, causal: bool, scale: float):
    import torch

    rep = q.shape[1] // k.shape[1]
    kf, vf = (x.float().repeat_interleave(rep, dim=1) for x in (k, v))
    s = q.float() @ kf.transpose(-1, -2) * scale
    if mask is not None:
        s = s + mask.float()
    if causal:
        above = torch.ones(s.shape[-2:], dtype=torch.bool, device=s.device).triu(1)  # key > query
        s = s.masked_fill(above, float("-inf"))
    p = torch.softmax(s, -1).nan_to_num(0.0)  # a row with no key: zeros, as nn.attention defines
    return p @ vf


CASES = {  # batch, heads, key heads, queries, keys, head size, causal, mask, layout, dtype, config
    "plain": (2, 4, 4, 256, 256, 64, False, False, "bhsd", "f16", (128, 2)),
    "plain-3-slots": (2, 4, 4, 512, 512, 64, False, False, "bhsd", "f16", (128, 3)),
    "causal": (2, 4, 4, 384, 384, 64, True, False, "bhsd", "f16", (128, 2)),
    # 64-key blocks: a tile's last block holds no key of the first consumer's rows (it skips it)
    "causal-64-keys": (2, 4, 4, 384, 384, 64, True, False, "bhsd", "f16", (64, 2)),
    "key-row": (3, 4, 4, 128, 128, 64, False, True, "bhsd", "f16", (128, 2)),
    "grouped": (2, 8, 2, 256, 256, 64, True, True, "bhsd", "f16", (128, 3)),
    "column-heads": (2, 4, 4, 256, 256, 64, False, True, "bshd", "f16", (128, 2)),
    "bf16": (2, 4, 4, 256, 256, 64, True, False, "bhsd", "bf16", (128, 2)),
    "d128": (2, 2, 2, 512, 512, 128, False, False, "bhsd", "f16", (128, 2)),
    "d128-64-keys": (2, 2, 2, 256, 256, 128, True, True, "bshd", "f16", (64, 3)),
    "fewer-queries": (2, 4, 4, 128, 384, 64, True, True, "bhsd", "f16", (128, 2)),
    "more-queries": (2, 4, 4, 512, 256, 64, True, False, "bhsd", "f16", (128, 3)),
    # 1024 tiles: each persistent program runs several, causal ones of different lengths
    "many-tiles": (8, 16, 4, 1024, 1024, 64, True, True, "bhsd", "f16", (128, 2)),
    # causal pairs of tiles, several per program, where the first consumer skips a block of each
    "many-tiles-64-keys": (8, 16, 4, 1024, 1024, 64, True, True, "bhsd", "f16", (64, 3)),
    # unequal query and key counts with 64-key blocks: the skip only where keys reach past the tile
    "fewer-queries-64-keys": (2, 4, 4, 128, 384, 64, True, True, "bhsd", "f16", (64, 2)),
    "more-queries-64-keys": (2, 4, 4, 512, 256, 64, True, False, "bhsd", "f16", (64, 2)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_gluon_attention_matches_torch(case: str) -> None:
    import torch

    from tritium.codegen import attention_gluon

    _needs_gluon()
    b, h, hk, sq, sk, d, causal, masked, layout, dt, (bn, stages) = CASES[case]
    dtype = {"f16": torch.float16, "bf16": torch.bfloat16}[dt]
    g = torch.Generator(device="cuda").manual_seed(0)

    def heads(n: int, s: int):
        if layout == "bshd":  # heads as column blocks: what a projection's output is, viewed
            return torch.randn(b, s, n, d, device="cuda", generator=g).to(dtype).transpose(1, 2)
        return torch.randn(b, n, s, d, device="cuda", generator=g).to(dtype)

    q, k, v = heads(h, sq), heads(hk, sk), heads(hk, sk)
    mask = None
    if masked:  # HF's padding mask: float16's lowest on the padded keys; batch element 1 all -inf
        mask = torch.zeros(b, 1, 1, sk, device="cuda", dtype=dtype)
        mask[0, ..., sk - sk // 4 :] = torch.finfo(dtype).min
        mask[1] = float("-inf")
    out = torch.empty(b, sq, h, d, device="cuda", dtype=dtype).transpose(1, 2)  # an output view
    scale = d**-0.5
    attention_gluon.launch(q, k, v, mask, out, causal, scale, {"BLOCK_N": bn, "STAGES": stages})
    want = _reference(q, k, v, mask, causal, scale)
    err = (out.float() - want).abs().max().item()
    assert err < (3e-2 if dt == "bf16" else 4e-3), f"{case}: max error {err}"
    if masked:
        assert out[1].abs().max().item() == 0.0  # every key masked: zeros


def test_tuning_can_choose_the_gluon_kernel_in_an_engine() -> None:
    """An engine whose selector allows only the Gluon configs runs them, says so, and matches torch."""
    import torch

    import tritium.ir as ir
    from tritium.api import build_engine

    _needs_gluon()

    class OnlyGluon:
        def select_algorithms(self, context, choices):
            return [c.tactic for c in choices if c.config.get("GLUON")]

    t = "tensor<2x4x256x64xf16>"
    text = f"""func.func @main(%q: {t}, %k: {t}, %v: {t}) -> {t} attributes {{input_names = ["q", "k", "v"], output_names = ["y"]}} {{
  %y, %pk, %pv, %qk = nn.attention %q, %k, %v {{is_causal = true}} : ({t}, {t}, {t}) -> ({t}, {t}, {t}, tensor<2x4x256x256xf16>)
  func.return %y : {t}
}}"""
    engine = build_engine(ir.parse_ir(text), device="cuda", selector=OnlyGluon())
    (layer,) = [x for x in engine.inspect()["layers"] if x["template"] == "flash_attention"]
    assert layer["tactic"] == "Gluon (hand-written, warp-specialized)" and layer["config"]["GLUON"] == 1
    q, k, v = (torch.randn(2, 4, 256, 64, device="cuda", dtype=torch.float16) for _ in range(3))
    y = engine({"q": q, "k": k, "v": v})["y"]
    want = torch.nn.functional.scaled_dot_product_attention(q.float(), k.float(), v.float(), is_causal=True)
    assert (y.float() - want).abs().max().item() < 4e-3
