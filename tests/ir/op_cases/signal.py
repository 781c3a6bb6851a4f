"""Cases for signal-processing ops: DFT, STFT, windows, the mel weight matrix."""

from __future__ import annotations

import math

import numpy as np
import torch

from tests.ir.op_cases.base import N, OpCase, T


def _complex(z: torch.Tensor) -> np.ndarray:
    return N(torch.view_as_real(z).contiguous())


def _dft(attrs: str, shape_in: str, shape_out: str, extra: str = "", axis: int = 1) -> str:
    length = ", %n" if extra else ""
    ltype = ", tensor<i64>" if extra else ""
    return (
        f"func.func @main(%x: tensor<{shape_in}xf32>) -> tensor<{shape_out}xf32> {{\n"
        f"  %axis = nn.constant dense<{axis}> : tensor<i64>\n"
        + (f"  %n = nn.constant dense<{extra}> : tensor<i64>\n" if extra else "")
        + f"  %y = nn.dft %x{length}, %axis {{{attrs}}} : (tensor<{shape_in}xf32>{ltype}, tensor<i64>) -> "
        f"tensor<{shape_out}xf32>\n  func.return %y : tensor<{shape_out}xf32>\n}}"
    )


def _rand(*shape: int):
    return lambda g: [g.standard_normal(shape).astype(np.float32)]


def _as_torch_complex(x: np.ndarray) -> torch.Tensor:
    return torch.view_as_complex(T(x.astype(np.float64)).contiguous())


def _f32(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32)


STFT = """func.func @main(%s: tensor<2x40x1xf32>, %w: tensor<8xf32>) -> tensor<2x9x5x2xf32> {
  %step = nn.constant dense<4> : tensor<i64>
  %y = nn.stft %s, %step, %w {onesided = true} : (tensor<2x40x1xf32>, tensor<i64>, tensor<8xf32>) -> tensor<2x9x5x2xf32>
  func.return %y : tensor<2x9x5x2xf32>
}"""


def _stft_oracle(s: np.ndarray, w: np.ndarray) -> list[np.ndarray]:
    z = torch.stft(
        T(s[..., 0].astype(np.float64)),
        n_fft=8,
        hop_length=4,
        win_length=8,
        window=T(w.astype(np.float64)),
        center=False,
        onesided=True,
        return_complex=True,
    )
    return [_f32(_complex(z.transpose(1, 2)))]  # torch: [batch, bins, frames]


def _window(name: str, periodic: bool) -> str:
    p = "true" if periodic else "false"
    return (
        "func.func @main() -> tensor<12xf32> {\n  %n = nn.constant dense<12> : tensor<i32>\n"
        f"  %y = nn.{name} %n {{output_datatype = f32, periodic = {p}}} : (tensor<i32>) -> tensor<12xf32>\n"
        "  func.return %y : tensor<12xf32>\n}"
    )


def _mel_oracle(bands: int, n: int, rate: int, lo: float, hi: float) -> np.ndarray:
    """Triangular filters written bin by bin (the op's reference is vectorized)."""

    def mel(f: float) -> float:
        return 2595.0 * math.log10(1.0 + f / 700.0)

    edges = []
    for i in range(bands + 2):
        m = mel(lo) + i * (mel(hi) - mel(lo)) / (bands + 2)
        edges.append(math.floor((n + 1) * 700.0 * (10 ** (m / 2595.0) - 1.0) / rate))
    out = np.zeros((n // 2 + 1, bands), np.float32)
    for b in range(bands):
        left, center, right = edges[b], edges[b + 1], edges[b + 2]
        for k in range(n // 2 + 1):
            if left <= k <= center:
                out[k, b] = 1.0 if center == left else (k - left) / (center - left)
            elif center < k < right:
                out[k, b] = (right - k) / (right - center)
    return out


MEL = """func.func @main() -> tensor<33x6xf32> {
  %bins = nn.constant dense<6> : tensor<i64>
  %n = nn.constant dense<64> : tensor<i64>
  %rate = nn.constant dense<16000> : tensor<i64>
  %lo = nn.constant dense<100.0> : tensor<f32>
  %hi = nn.constant dense<6000.0> : tensor<f32>
  %y = nn.mel_weight_matrix %bins, %n, %rate, %lo, %hi {output_datatype = f32} : (tensor<i64>, tensor<i64>, tensor<i64>, tensor<f32>, tensor<f32>) -> tensor<33x6xf32>
  func.return %y : tensor<33x6xf32>
}"""

CASES = {
    "nn.dft": [
        OpCase(
            _dft("inverse = false, onesided = false", "2x8x3x2", "2x8x3x2"),
            _rand(2, 8, 3, 2),
            lambda x: [_f32(_complex(torch.fft.fft(_as_torch_complex(x), dim=1)))],
            rtol=1e-4,
        ),
        OpCase(
            _dft("inverse = true, onesided = false", "2x8x3x2", "2x8x3x2", axis=-2),
            _rand(2, 8, 3, 2),
            lambda x: [_f32(_complex(torch.fft.ifft(_as_torch_complex(x), dim=2)))],
            rtol=1e-4,
        ),
        OpCase(
            _dft("inverse = false, onesided = true", "3x10x1", "3x7x2", extra="12"),
            _rand(3, 10, 1),
            lambda x: [_f32(_complex(torch.fft.rfft(T(x[..., 0].astype(np.float64)), n=12, dim=1)))],
            rtol=1e-4,
        ),
        OpCase(
            _dft("inverse = true, onesided = true", "3x5x2", "3x8x1"),
            _rand(3, 5, 2),
            lambda x: [_f32(N(torch.fft.irfft(_as_torch_complex(x), n=8, dim=1))[..., None])],
            rtol=1e-4,
        ),
    ],
    "nn.stft": [
        OpCase(
            STFT,
            lambda g: [
                g.standard_normal((2, 40, 1)).astype(np.float32),
                g.uniform(0, 1, 8).astype(np.float32),
            ],
            _stft_oracle,
            rtol=1e-4,
        )
    ],
    "nn.hann_window": [
        OpCase(_window("hann_window", p), lambda g: [], lambda p=p: [N(torch.hann_window(12, periodic=p))])
        for p in (True, False)
    ],
    "nn.hamming_window": [
        OpCase(
            _window("hamming_window", p),
            lambda g: [],
            lambda p=p: [N(torch.hamming_window(12, periodic=p, alpha=25 / 46, beta=21 / 46))],
        )
        for p in (True, False)
    ],
    "nn.blackman_window": [
        OpCase(
            _window("blackman_window", p),
            lambda g: [],
            lambda p=p: [N(torch.blackman_window(12, periodic=p))],
        )
        for p in (True, False)
    ],
    "nn.mel_weight_matrix": [OpCase(MEL, lambda g: [], lambda: [_mel_oracle(6, 64, 16000, 100.0, 6000.0)])],
}
