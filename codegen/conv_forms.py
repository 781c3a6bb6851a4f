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

WINDOW_SIZES = ("KRED", "CG", "R", "S")
"""The convolution kernel's window sizes (all of its reduction, channels per group, window height
and width): compile-time constants where ``triton_env.constexpr_sizes("conv")``."""


def tma_form(conv: Any, x_shape: tuple, out_shape: tuple, w_shape: tuple, itemsize: int = 2) -> str | None:
    """How ``conv`` (channels-last, one group, unit strides, 16-byte aligned pixel rows: C a multiple
    of 16 bytes of channels) loads its tiles as pixel-row boxes: "same" (output as large as the
    input, padded windows: ``tma_loop``), "valid" (no padding or dilation: ``valid_loop``), or None."""
    a = conv.attributes
    if not (
        a.get("layout") == "NHWC"
        and conv.name in ("nn.conv", "nn.conv_integer", "nn.conv_float8")
        and a.get("group", 1) == 1
        and list(a["strides"]) == [1, 1]
        and (x_shape[3] * itemsize) % 16 == 0
        and w_shape[3] == x_shape[3]
    ):
        return None
    if tuple(x_shape[1:3]) == tuple(out_shape[1:3]):
        return "same"
    return "valid" if not any(a["pads"]) and list(a["dilations"]) == [1, 1] else None


def valid_loop(precision: str = "") -> list[str]:
    """The reduction of an unpadded convolution, indented one level. Its rows are the input's pixels
    (a virtual output at every input position; those past the output's height or width are not
    stored), so window row r of every row is the box of BLOCK_M pixel rows r * W further on, and a
    window row's S taps of C channels are S * C consecutive elements: ``x_desc`` views the pixels
    as rows of XW elements starting C apart (XW = S * C, overlapping, when a reduction block spans
    taps; XW = C otherwise). No row needs masking: a window that runs past a row's end (or the
    image's) only reaches outputs that are not stored. A space-to-depth stem (convert-layout) runs
    here."""
    return [
        "    ksteps = tl.cdiv(S * CG, BLOCK_K)",
        "    for kk in range(0, R * ksteps):",
        "        r = kk // ksteps",
        "        k0 = (kk - r * ksteps) * BLOCK_K",
        "        a = x_desc.load([pid_m * BLOCK_M + r * W + k0 // XW, k0 % XW])",
        "        b = w_desc.load([pid_n * BLOCK_N, r * S * CG + k0])",
        f"        acc = tl.dot(a, tl.trans(b), acc{precision})",
    ]


def valid_rows() -> list[str]:
    """The epilogue's output rows and mask for ``valid_loop``'s virtual rows (M = N * H * W). A row
    that is not stored points at output row 0, so that epilogue inputs loaded per row (masked by
    ``em < M`` alone) stay in bounds."""
    return [
        "    vi = (rm % (H * W)) // W",
        "    vj = rm % W",
        "    vok = (rm < M) & (vi < OH) & (vj < OW)",
        "    em = tl.where(vok, ((rm // (H * W)) * OH + vi) * OW + vj, 0)[:, None]",
        "    en = kout[None, :]",
        "    mask = vok[:, None] & (rj[None, :] < NG)",
    ]


def tma_loop(
    dh: int, dw: int, ph: int, pw: int, acc_type: str = "tl.float32", precision: str = ""
) -> list[str]:
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
        f"        part = tl.zeros((BLOCK_M, BLOCK_N), dtype={acc_type})",
        "        for cb in range(0, ncb):",
        "            a = x_desc.load([row0, cb * BLOCK_K])",
        "            b = w_desc.load([pid_n * BLOCK_N, rs * CG + cb * BLOCK_K])",
        f"            part = tl.dot(a, tl.trans(b), part{precision})",
        "        acc += tl.where(row_ok[:, None], part, 0)",
    ]


def tma_space(
    space: list[dict[str, int]], form: str, cg: int, kred: int, itemsize: int, n: int
) -> list[dict[str, int]]:
    """The tiles as TMA configs where they can be (reduction blocks of at least 32 bytes that
    split a tap's ``cg`` channels, or for the "valid" form a window row's ``kred`` elements), the
    rest through pointers. Where TMA cannot address the tensors at run time, the same tiles load
    through pointers. The "same" form holds a second accumulator: tiles up to 128 x 128, on 8
    warps at that size (on an H200 it beat the pointer kernel on every ResNet-50 3x3 convolution
    at batch 32: 0.0234 -> 0.0183 ms at 128 channels, 0.0283 -> 0.0189 at 256). The "valid" form
    (``n`` output channels) leads with tiles as wide as the output (up to 64) and 128 rows:
    ResNet-50's space-to-depth stem ran 0.051 ms at 128 x 64 against 0.070 at 256 x 64."""
    same = form == "same"
    tma, pointers = [], []
    for c in space:
        area, bk = c["BLOCK_M"] * c["BLOCK_N"], c["BLOCK_K"]
        split = cg % bk if same else kred % bk  # ("valid": blocks of a window row, one tap or spanning taps)
        if split or bk * itemsize < 32 or (same and area > 128 * 128):
            pointers.append(c)
            continue
        t = {**c, "TMA": 1, "num_warps": 8 if same and area == 128 * 128 else c["num_warps"]}
        if t not in tma:
            tma.append(t)
    if not same:  # narrow outputs over short window rows (the stems): whole-width tiles first
        bn, bk = max(16, min(64, 1 << (n - 1).bit_length())), min(64, kred & -kred)
        lead = [
            {
                "BLOCK_M": bm,
                "BLOCK_N": bn,
                "BLOCK_K": bk,
                "GROUP_M": 8,
                "num_warps": 8 if itemsize == 1 and bm == 128 else 4,  # (int8 on 4: 255 registers, spills)
                "num_stages": st,
                "TMA": 1,
            }
            for bm, st in ((128, 2), (128, 3), (64, 2))
        ]
        if bk * itemsize >= 32:
            tma = lead + [c for c in tma if c not in lead]
    return tma + pointers


def conv_descriptors(x: Any, w: Any, cfg: dict[str, int], form: str) -> tuple[list[Any], int] | None:
    """Tensor descriptors of the pixel rows and the weight matrix [K, R * S * C], and the pixel rows'
    width XW: [N * H * W, C] rows; for the "valid" form, where a reduction block spans taps, rows of
    S * C elements starting C apart. None where TMA cannot address them (not contiguous, unaligned)
    or a reduction block would straddle two taps ("same") or window rows ("valid"): the pointer
    kernel then runs with the same tiles."""
    import torch
    from triton.tools.tensor_descriptor import TensorDescriptor

    from tritium.codegen.gemm_forms import tma_addressable

    c, bk = x.shape[-1], cfg["BLOCK_K"]
    row = w.shape[2] * c  # a window row: S taps of C channels
    wide = form == "valid" and (bk > c or c % bk != 0)  # blocks that span taps
    if not (x.is_contiguous() and w.is_contiguous()) or (row % bk if wide else c % bk):
        return None
    if wide:  # overlapping rows: row m holds pixels m .. m + S - 1
        x2 = torch.as_strided(x, (x.numel() // c - w.shape[2] + 1, row), (c, 1))
    else:
        x2 = x.view(-1, c)
    w2 = w.view(w.shape[0], -1)
    if not (tma_addressable(x2) and tma_addressable(w2)):
        return None
    descriptors = [
        TensorDescriptor.from_tensor(x2, [cfg["BLOCK_M"], bk]),
        TensorDescriptor.from_tensor(w2, [cfg["BLOCK_N"], bk]),
    ]
    return descriptors, x2.shape[1]
