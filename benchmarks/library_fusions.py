"""cuDNN's and cuBLASLt's fused epilogues against the bare library calls, on the GPU (RESULTS.md,
twentieth session): ResNet-50's convolutions at batch 32 alone, followed by bias and ReLU as
separate kernels, and as ``torch.cudnn_convolution_relu`` / ``_add_relu``; GEMMs as ``mm``,
``addmm``, ``addmm`` then ReLU, and ``torch._addmm_activation`` (ReLU, and its tanh GELU). Each
time is a CUDA graph's (triton.testing.do_bench_cudagraph), in us; the fused forms' errors
against FP32 torch are printed beside them.

    python benchmarks/library_fusions.py
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from triton.testing import do_bench_cudagraph

CONVS = [  # (batch, channels in, size, channels out, window, stride)
    (32, 64, 56, 64, 3, 1),
    (32, 128, 28, 128, 3, 1),
    (32, 256, 14, 256, 3, 1),
    (32, 512, 7, 512, 3, 1),
    (32, 128, 56, 128, 3, 2),
    (32, 256, 28, 256, 3, 2),
    (32, 512, 14, 512, 3, 2),
    (32, 1024, 14, 256, 1, 1),
    (32, 2048, 7, 512, 1, 1),
    (32, 256, 14, 1024, 1, 1),
    (32, 512, 7, 2048, 1, 1),
    (1, 256, 14, 256, 3, 1),
    (1, 512, 7, 512, 3, 1),
]
GEMMS = [(6272, 1024, 256), (1568, 2048, 512), (1568, 512, 2048), (4096, 768, 3072), (4096, 3072, 768)]


def us(fn) -> float:
    fn()
    torch.cuda.synchronize()
    return do_bench_cudagraph(fn, rep=200) * 1000


def convs() -> None:
    for n, c, hw, k, r, s in CONVS:
        x = torch.randn(n, c, hw, hw, device="cuda", dtype=torch.float16).to(
            memory_format=torch.channels_last
        )
        w = (torch.randn(k, c, r, r, device="cuda", dtype=torch.float16) * 0.05).to(
            memory_format=torch.channels_last
        )
        b = torch.randn(k, device="cuda", dtype=torch.float16)
        p = r // 2
        z = torch.randn_like(F.conv2d(x, w, None, s, p))
        ref = F.conv2d(x.float(), w.float(), b.float(), s, p)
        fused = torch.cudnn_convolution_relu(x, w, b, (s, s), (p, p), (1, 1), 1)
        summed = torch.cudnn_convolution_add_relu(x, w, z, 1.0, b, (s, s), (p, p), (1, 1), 1)
        row = {
            "conv": us(lambda: F.conv2d(x, w, None, s, p)),
            "conv, bias, relu": us(lambda: torch.relu_(F.conv2d(x, w, None, s, p).add_(b.view(1, -1, 1, 1)))),
            "cudnn_convolution_relu": us(
                lambda: torch.cudnn_convolution_relu(x, w, b, (s, s), (p, p), (1, 1), 1)
            ),
            "cudnn_convolution_add_relu": us(
                lambda: torch.cudnn_convolution_add_relu(x, w, z, 1.0, b, (s, s), (p, p), (1, 1), 1)
            ),
            "relu err": (fused.float() - torch.relu(ref)).abs().max().item(),
            "add_relu err": (summed.float() - torch.relu(ref + z.float())).abs().max().item(),
        }
        print((n, c, hw, k, r, s), {key: round(v, 3) for key, v in row.items()}, flush=True)


def gemms() -> None:
    for m, k, n in GEMMS:
        a = torch.randn(m, k, device="cuda", dtype=torch.float16)
        b = (
            torch.randn(n, k, device="cuda", dtype=torch.float16) * 0.05
        ).t()  # K-major, as the runtime holds it
        bias = torch.randn(n, device="cuda", dtype=torch.float16)
        y = torch.addmm(bias.float(), a.float(), b.float())
        row = {
            "mm": us(lambda: torch.mm(a, b)),
            "addmm": us(lambda: torch.addmm(bias, a, b)),
            "addmm, relu": us(lambda: torch.relu_(torch.addmm(bias, a, b))),
            "addmm_activation relu": us(lambda: torch._addmm_activation(bias, a, b)),
            "addmm_activation gelu": us(lambda: torch._addmm_activation(bias, a, b, use_gelu=True)),
            "relu err": (torch._addmm_activation(bias, a, b).float() - torch.relu(y)).abs().max().item(),
        }
        print((m, k, n), {key: round(v, 3) for key, v in row.items()}, flush=True)


if __name__ == "__main__":
    torch.backends.cudnn.benchmark = True
    print(torch.__version__, "cuDNN", torch.backends.cudnn.version(), torch.cuda.get_device_name())
    convs()
    gemms()
