"""Cases for the recurrent layers (RNN, GRU, LSTM), checked against torch's modules."""

from __future__ import annotations

import numpy as np
import torch

from tests.ir.op_cases.base import N, OpCase, T
from tests.ir.op_cases.layers import case, f32, normal

# -- recurrent layers ---------------------------------------------------------------------------------------

TORCH_GATES = {torch.nn.RNN: [0], torch.nn.GRU: [1, 0, 2], torch.nn.LSTM: [0, 2, 3, 1]}
"""ONNX gate blocks in torch's order (GRU: zrh -> rzn, LSTM: iofc -> ifgo)."""


def torch_recurrent(cls, x, w, r, b, states, batch_first=False, **kw):  # type: ignore[no-untyped-def]
    """torch's layer with the ONNX weights; returns (y as (seq|batch, ..., directions * hidden), states)."""
    dirs, hidden = w.shape[0], r.shape[-1]
    m = cls(x.shape[-1], hidden, bidirectional=dirs == 2, batch_first=batch_first, **kw).double()

    def order(a: np.ndarray) -> torch.Tensor:
        return T(
            np.concatenate([a[k * hidden : (k + 1) * hidden] for k in TORCH_GATES[cls]]).astype(np.float64)
        )

    gh = w.shape[1]
    with torch.no_grad():
        for d in range(dirs):
            sfx = "_reverse" if d else ""
            getattr(m, "weight_ih_l0" + sfx).copy_(order(w[d]))
            getattr(m, "weight_hh_l0" + sfx).copy_(order(r[d]))
            getattr(m, "bias_ih_l0" + sfx).copy_(order(b[d, :gh]))
            getattr(m, "bias_hh_l0" + sfx).copy_(order(b[d, gh:]))
        st = [T(s.astype(np.float64)) for s in states]
        y, out = m(T(x.astype(np.float64)), (st[0] if len(st) == 1 else tuple(st)) if st else None)
    out = list(out) if isinstance(out, tuple) else [out]
    return N(y), [N(s) for s in out]


def lstm_seq_oracle(x, w, r, b, lens, h0, c0):  # type: ignore[no-untyped-def]
    """Each sequence run on its own, truncated to its length (steps past it: zeros)."""
    seq, batch = x.shape[:2]
    dirs, hidden = w.shape[0], r.shape[-1]
    y = np.zeros((seq, dirs, batch, hidden))
    yh, yc = np.zeros((dirs, batch, hidden)), np.zeros((dirs, batch, hidden))
    for i in range(batch):
        n = int(lens[i])
        out, (h, c) = torch_recurrent(
            torch.nn.LSTM, x[:n, i : i + 1], w, r, b, [h0[:, i : i + 1], c0[:, i : i + 1]]
        )
        y[:n, :, i] = out[:, 0].reshape(n, dirs, hidden)
        yh[:, i], yc[:, i] = h[:, 0], c[:, 0]
    return [y.astype(f32), yh.astype(f32), yc.astype(f32)]


def acts(names: list[str]) -> str:
    q = ", ".join(f'"{a}"' for a in names)
    z = ", ".join("0.0" for _ in names)
    return f"activations = [{q}], activation_alpha = [{z}], activation_beta = [{z}]"


def gru_oracle(x, w, r, b, h0):  # type: ignore[no-untyped-def]
    y, (h,) = torch_recurrent(torch.nn.GRU, x, w, r, b, [h0])
    return [y.reshape(4, 2, 1, 5).transpose(0, 2, 1, 3).astype(f32), h.astype(f32)]


def rnn_oracle(x, w, r, b):  # type: ignore[no-untyped-def]
    y, (h,) = torch_recurrent(torch.nn.RNN, x, w, r, b, [], batch_first=True)
    return [y.reshape(2, 4, 2, 4).astype(f32), h.transpose(1, 0, 2).astype(f32)]


LSTM_IN = "x:5x3x4xf32 w:2x12x4xf32 r:2x12x3xf32 b:2x24xf32 lens:3xi32 h0:2x3x3xf32 c0:2x3x3xf32"
RNN = {
    "nn.lstm": [
        case(
            "nn.lstm",
            LSTM_IN,
            "5x2x3x3xf32 2x3x3xf32 2x3x3xf32",
            'hidden_size = 3, direction = "bidirectional", ' + acts(["Sigmoid", "Tanh", "Tanh"] * 2),
            lstm_seq_oracle,
            lambda g: [
                *normal((5, 3, 4), (2, 12, 4), (2, 12, 3), (2, 24), scale=0.5)(g),
                np.array([5, 3, 1], np.int32),
                *normal((2, 3, 3), (2, 3, 3))(g),
            ],
        )
    ],
    "nn.gru": [
        case(
            "nn.gru",
            "x:4x2x3xf32 w:1x15x3xf32 r:1x15x5xf32 b:1x30xf32 h0:1x2x5xf32",
            "4x1x2x5xf32 1x2x5xf32",
            "hidden_size = 5, linear_before_reset = true, operand_segments = [1, 1, 1, 1, 0, 1], "
            + acts(["Sigmoid", "Tanh"]),
            gru_oracle,
            normal((4, 2, 3), (1, 15, 3), (1, 15, 5), (1, 30), (1, 2, 5), scale=0.5),
        )
    ],
    "nn.rnn": [
        case(
            "nn.rnn",
            "x:2x4x3xf32 w:2x4x3xf32 r:2x4x4xf32 b:2x8xf32",
            "2x4x2x4xf32 2x2x4xf32",
            'hidden_size = 4, direction = "bidirectional", layout = 1, ' + acts(["Tanh", "Tanh"]),
            rnn_oracle,
            normal((2, 4, 3), (2, 4, 3), (2, 4, 4), (2, 8), scale=0.5),
        )
    ],
}

CASES: dict[str, list[OpCase]] = {**RNN}
