"""The GEMM template's left operand joined from pieces: ``matmul(concat(a0, a1, ..., axis=-1), W)``.

``merge-summed-matmuls`` turns ResNet's shortcut sum ``a1 @ W1 + a2 @ W2`` into one product over
``concat(a1, a2)`` and the stacked weight, and ``fuse-kernels`` puts that concat into the GEMM's
kernel. The kernel never builds the joined matrix: it runs one reduction loop per piece, each
reading its piece (K_i columns of its own tensor) and the matching rows of ``b`` (from the sum of
the earlier pieces' K on), into the one accumulator. A tile past a piece's last column reads zeros
from that piece (masks; TMA fills out of bounds with zeros), so the rows of ``b`` it pairs with,
which belong to the next piece, add nothing. Whole tiles only: no persistent, stream-K, split or
library forms.
"""

from __future__ import annotations

from typing import Any

from tritium.codegen.gemm_forms import operand_descriptors
from tritium.codegen.indexing import Unsupported
from tritium.ir.core import Operation, Value
from tritium.passes.fusion_policy import joinable_concat


def joined_operand(mm: Operation, args: list[Value]) -> tuple[Operation, list[int], list[int]] | None:
    """(the concat, its inputs' block-argument indices, their widths) when ``mm``'s left operand is a
    concat along its last axis inside the kernel, else None."""
    cat = mm.operand(0).defining_op
    if cat is None or cat.name != "nn.concat":
        return None
    why = joinable_concat(cat, mm)
    if why is not None:
        raise Unsupported(why)
    pieces = list(cat.operands)
    if any(p not in args for p in pieces):
        raise Unsupported("a joined GEMM operand computed inside the kernel")
    widths = [p.type.shape[-1] for p in pieces]  # type: ignore[attr-defined]
    return cat, [args.index(p) for p in pieces], widths  # type: ignore[return-value]


def piece_loops(
    mode: str, pieces: list[int], widths: list[int], acc_type: str, precision: str, zero: str, b_base: str
) -> list[str]:
    """The reduction over each piece in turn ("tma": descriptors ``a{i}_desc``; else pointers)."""
    lines = [f"    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype={acc_type})"]
    if mode != "tma":
        lines.append("    rk = tl.arange(0, BLOCK_K)")
    start = 0
    for i, (p, k) in enumerate(zip(pieces, widths)):
        note = f"  # piece {i} of the joined operand: in{p}, {k} columns; rows {start}.. of b"
        if mode == "tma":
            lines += [
                f"    for k in range(0, tl.cdiv({k}, BLOCK_K)):{note}",
                f"        a = a{i}_desc.load([pid_m * BLOCK_M, k * BLOCK_K])",
                "        if B_KMAJOR:",
                f"            b = tl.trans(b_desc.load([pid_n * BLOCK_N, {start} + k * BLOCK_K]))",
                "        else:",
                f"            b = b_desc.load([{start} + k * BLOCK_K, pid_n * BLOCK_N])",
                f"        acc = tl.dot(a, b, acc{precision})",
            ]
        else:
            lines += [
                f"    a_ptrs = in{p}_ptr + rm[:, None] * {k} + rk[None, :]{note}",
                f"    b_ptrs = {b_base} + ({start} + rk)[:, None] * stride_bk + rn[None, :] * stride_bn",
                f"    for k in range(0, tl.cdiv({k}, BLOCK_K)):",
                f"        kmask = rk < {k} - k * BLOCK_K",
                f"        a = tl.load(a_ptrs, mask=(rm[:, None] < M) & kmask[None, :], other={zero})",
                f"        b = tl.load(b_ptrs, mask=kmask[:, None] & (rn[None, :] < N), other={zero})",
                f"        acc = tl.dot(a, b, acc{precision})",
                "        a_ptrs += BLOCK_K",
                "        b_ptrs += BLOCK_K * stride_bk",
            ]
        start += k
    return lines


def piece_descriptors(pieces: list[Any], b: Any, cfg: dict[str, int]) -> list[Any] | None:
    """Each piece's descriptor, then ``b``'s; None where TMA cannot address one of them."""
    out = []
    for p in pieces:
        made = operand_descriptors(p, b, cfg)
        if made is None:
            return None
        out.append(made[0])
    return [*out, made[1]]


def whole_tiles(space: list[dict[str, int]]) -> list[dict[str, int]]:
    """The configs a joined left operand takes: whole tiles, through pointers or TMA."""
    forms = ("PERSISTENT", "STREAMK", "SPLIT", "SPLIT_K", "WS", "LIBRARY")
    return [c for c in space if not any(c.get(f) for f in forms)]
