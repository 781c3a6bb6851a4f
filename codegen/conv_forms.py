"""The convolution template's Hopper form: tiles loaded by tensor descriptors (TMA).

A stride-1 channels-last convolution whose output has its input's height and width ("same"
padding, ResNet's 3x3 convolutions) reads, for window tap (r, s), the input pixel at a fixed
distance from the output pixel in the flattened [N * H * W, C] pixel matrix:
``m + (r * dh - ph) * W + (s * dw - pw)``. So a tap's A tile is one box of BLOCK_M consecutive
pixel rows, which one TMA copy brings into shared memory without per-element address arithmetic
(the pointer kernel spent more issue slots on addresses than on anything else: ncu showed its ALU
pipe the busiest, never the tensor cores). The rows whose window position falls outside the image
(the padding, or a neighbouring row or image in the flattened matrix) are zeroed in the tap's
partial product; boxes reaching before the first pixel or past the last are zero-filled by TMA.
The weights [K, R, S, C] are the K-major matrix [K, R * S * C]: a tap's B tile is one box too.
"""

from __future__ import annotations

from typing import Any


def tma_eligible(conv: Any, x_shape: tuple, out_shape: tuple, w_shape: tuple) -> bool:
    """Whether ``conv`` (channels-last, float, one group) can load its tiles as pixel-row boxes:
    unit strides, output as large as the input, and 16-byte aligned pixel rows (C a multiple of 8
    16-bit channels)."""
    a = conv.attributes
    return (
        a.get("layout") == "NHWC"
        and conv.name == "nn.conv"
        and a.get("group", 1) == 1
        and list(a["strides"]) == [1, 1]
        and tuple(x_shape[1:3]) == tuple(out_shape[1:3])
        and x_shape[3] % 8 == 0
        and w_shape[3] == x_shape[3]
    )


def tma_loop(dh: int, dw: int, ph: int, pw: int) -> list[str]:
    """The reduction, indented one level: a loop over taps, each summing its channel blocks
    (``x_desc`` boxes of BLOCK_M pixel rows shifted by the tap's offset, times ``w_desc`` boxes of
    BLOCK_N output channels, K-major) into a partial product that joins the accumulator with its
    out-of-window rows zeroed. Both operands stay in shared memory for the tensor cores, at the
    cost of a second accumulator (8 warps for 128 x 128 tiles) and, per tap, a wait for the tensor
    cores. Zeroing the A tile's rows instead puts it in registers, and Triton 3.6 then issues the
    tensor-core instructions one at a time: on an H200 that form was 20-30% slower (ResNet-50's
    3x3 128-channel convolution: 0.0229 against 0.0179 ms). The nested loops are flattened so
    that TMA copies run ahead across taps."""
    return [
        "    m_ok = rm < M",
        "    ncb = tl.cdiv(CG, BLOCK_K)",
        "    for rs in tl.range(0, R * S, flatten=True):",
        "        r = rs // S",
        "        s = rs - r * S",
        f"        ih = ih0 + r * {dh}",
        f"        iw = iw0 + s * {dw}",
        "        row_ok = m_ok & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)",
        f"        row0 = pid_m * BLOCK_M + (r * {dh} - {ph}) * W + s * {dw} - {pw}",
        "        part = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)",
        "        for cb in range(0, ncb):",
        "            a = x_desc.load([row0, cb * BLOCK_K])",
        "            b = w_desc.load([pid_n * BLOCK_N, rs * CG + cb * BLOCK_K])",
        "            part = tl.dot(a, tl.trans(b), part)",
        "        acc += tl.where(row_ok[:, None], part, 0.0)",
    ]


def conv_descriptors(x: Any, w: Any, cfg: dict[str, int]) -> list[Any] | None:
    """Tensor descriptors of the pixel matrix [N * H * W, C] and the weight matrix [K, R * S * C],
    or None where TMA cannot address them (not contiguous, or unaligned) or a channel block would
    straddle two taps: the pointer kernel then runs with the same tiles."""
    from triton.tools.tensor_descriptor import TensorDescriptor

    from tritium.codegen.gemm_forms import tma_addressable

    if not (x.is_contiguous() and w.is_contiguous()) or x.shape[-1] % cfg["BLOCK_K"]:
        return None
    x2, w2 = x.view(-1, x.shape[-1]), w.view(w.shape[0], -1)
    if not (tma_addressable(x2) and tma_addressable(w2)):
        return None
    bm, bn, bk = cfg["BLOCK_M"], cfg["BLOCK_N"], cfg["BLOCK_K"]
    return [TensorDescriptor.from_tensor(x2, [bm, bk]), TensorDescriptor.from_tensor(w2, [bn, bk])]
