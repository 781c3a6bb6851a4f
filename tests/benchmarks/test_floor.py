"""The roofline floor of benchmarks/bench_models.py counts the FLOPs that a model really does.

Its first version counted none of nn.MultiheadAttention's work in inference mode (the fused fast
path is one op the flop counter does not see), which made ViT-B/16's floor about a third too low.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_models.py"


def _bench_models():
    spec = importlib.util.spec_from_file_location("bench_models", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_multihead_attention_projections_are_counted() -> None:
    torch.manual_seed(0)
    d, heads, batch, seq = 64, 4, 2, 9
    layer = torch.nn.TransformerEncoderLayer(d, heads, dim_feedforward=128, batch_first=True).eval()
    x = torch.randn(batch, seq, d)
    flops, y = _bench_models().count_flops(layer, [x])
    tokens = batch * seq
    linear = 2 * tokens * d * (4 * d + 2 * 128)  # Q, K, V, out-projection and the two FFN layers
    attention = 2 * 2 * batch * seq * seq * d  # scores and the weighted sum
    # The CPU's attention kernel may or may not be counted; the projections must be.
    assert linear <= flops <= linear + attention, (flops, linear, attention)
    with torch.inference_mode():
        assert torch.allclose(y, layer(x), atol=1e-5)
    assert torch.backends.mha.get_fastpath_enabled()  # restored after counting
