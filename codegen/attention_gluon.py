"""Flash attention for Hopper with FlashAttention-3's schedule, hand-written in Gluon (Triton's
lower-level language): a config of the attention template (``GLUON``) that competes in tuning with
the generated kernel (``attention.py``) wherever it applies.

Why a second kernel: the generated one waits on each ``wgmma`` as soon as it is issued, so a
program's softmax never overlaps its own products (Triton 3.6's automatic warp specialization does
not split this loop on Hopper). Here the warps specialize by hand:

- one producer warp loads, by TMA, each consumer's 64 query rows and then the key and value tiles of
  every key block into rings of ``STAGES`` slots (``k_ready``/``v_ready`` carry the bytes; ``k_empty``
  returns a key slot once both consumers' scores with it are done, ``v_empty`` a value slot after
  their products);
- two consumer warpgroups own the two 64-row halves of a 128-query tile. In each "phase" a consumer
  issues this block's Q K^T and then the previous block's P V, hands the turn to the other
  consumer (the ``turn`` barriers make the two alternate, so one's softmax runs while the other's
  products use the tensor cores), waits for its scores only, runs the online softmax under its own
  P V, then waits for that and rescales;
- programs are persistent (one per SM): the producer runs ahead into the next tile's keys while the
  consumers normalize and store the current one.

It covers what the models and the issue's targets run: float16 and bfloat16, head sizes 64 and 128,
grouped heads, causal masks (keys up to the query's position, as the generated kernel), and one
additive row of keys per batch element (BERT's padding mask), with query counts that are multiples
of 128 and key counts that are multiples of the key block (64 or 128), and a positive scale. Each of q, k, v and the output is read as a 2-D
[rows, columns] view: row ``b * RB + h * RH + position``, column ``h * CH`` (heads as row blocks of a
[B, H, S, D] tensor, or as column blocks of a [B, S, H * D] one); other layouts are copied.
Measured on an H100 (RESULTS.md, twenty-fifth session).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

ROWS = 64
"""Query rows per consumer warpgroup (one m64 wgmma); a tile is two halves."""


def available() -> bool:
    """Whether this kernel can run here: the current GPU is sm_90 (wgmma; not the interpreter) and
    Triton has Gluon's Hopper language as written against (3.6 and 3.9 checked)."""
    from tritium.codegen.triton_env import use_interpreter

    if use_interpreter() or not importable():
        return False
    import torch

    return torch.cuda.get_device_capability() == (9, 0)


@lru_cache(maxsize=1)
def importable() -> bool:
    """Whether the installed Triton has Gluon's Hopper language as the kernel is written against."""
    try:
        import tritium.codegen.gluon_attention_kernel  # noqa: F401
    except Exception:  # no Gluon, or one whose API differs
        return False
    return True


def identity() -> str:
    """What a timing-cache key adds where these configs compete: the kernel's code (so that editing
    it re-tunes), or nothing where it cannot run."""
    return "gluon:" + _kernel_hash() if available() else ""


@lru_cache(maxsize=1)
def _kernel_hash() -> str:
    from pathlib import Path

    from tritium.codegen.triton_env import source_hash

    return source_hash((Path(__file__).parent / "gluon_attention_kernel.py").read_text())


def applies(dtype: str, d: int, dv: int, sq: int, sk: int, mask: str, epilogue: bool, scale: float) -> bool:
    """Whether the kernel computes this attention (``mask``: "" none, "row" one additive row of keys
    per batch element, "other" anything else). A positive scale: the kernel scales each row's
    maximum, not every score, before subtracting it (a -inf score times 0 would be NaN)."""
    return (
        sq > 0
        and sk > 0
        and scale > 0
        and dtype in ("f16", "bf16")
        and d == dv
        and d in (64, 128)
        and sq % (2 * ROWS) == 0
        and sk % 64 == 0
        and mask in ("", "row")
        and not epilogue
    )


def config_space(d: int, sk: int, causal: bool = False) -> list[dict[str, int]]:
    """Key blocks x ring slots (a slot holds a key and a value tile: 64 KB at 128 keys of head size 128).
    64-key blocks at head size 64 only under a causal mask, where a tile's first 64 queries then skip
    its last block (measured on H200 at 512 queries: 0.0577 against 0.0628 ms; 0.082 against 0.071
    without the mask)."""
    if d <= 64:
        shapes = [(128, 2), (128, 3)] + ([(64, 3)] if causal else [])
    else:
        shapes = [(128, 2), (64, 3)]
    return [{"GLUON": 1, "BLOCK_N": n, "STAGES": st} for n, st in shapes if sk % n == 0]


def _view(x: Any) -> tuple[Any, int, int, int] | None:
    """``x`` [B, H, S, D] as a 2-D tensor and (RB, RH, CH): position s of head h of batch element b
    is its row b * RB + h * RH + s from column h * CH. None where TMA cannot read it so (the last
    axis strided, rows not 16-byte aligned)."""
    import torch

    bsz, h, s, d = x.shape
    sb, sh, ss, sd = x.stride()
    es = x.element_size()
    if sd != 1 or ss <= 0 or (ss * es) % 16 or x.data_ptr() % 16:
        return None
    if sb % ss == 0 and sh % ss == 0:  # heads are blocks of rows ([B, H, S, D])
        rb, rh, ch, cols = sb // ss, sh // ss, 0, d
    elif sb % ss == 0 and (sh * es) % 16 == 0 and (h - 1) * sh + d <= ss:  # blocks of columns ([B, S, H*D])
        rb, rh, ch, cols = sb // ss, 0, sh, (h - 1) * sh + d
    else:
        return None
    rows = (bsz - 1) * rb + (h - 1) * rh + s
    return torch.as_strided(x, (rows, cols), (ss, 1)), rb, rh, ch


def launch(
    q: Any, k: Any, v: Any, mask: Any, out: Any, causal: bool, scale: float, cfg: dict[str, int]
) -> None:
    """out = attention(q, k, v) for [B, H, S, D] tensors; ``mask``: None or one additive row of keys
    per batch element ([B, 1, 1, SK] or broadcastable)."""
    import torch
    from triton.experimental.gluon import language as gl
    from triton.experimental.gluon.nvidia.hopper import TensorDescriptor

    from tritium.codegen.gluon_attention_kernel import flash_attention_hopper
    from tritium.codegen.triton_env import sm_count

    bsz, h, sq, d = q.shape
    hkv, sk = k.shape[1], k.shape[2]
    bn = cfg["BLOCK_N"]
    dtype = {torch.float16: gl.float16, torch.bfloat16: gl.bfloat16}[q.dtype]
    target = out if _view(out) is not None else torch.empty(out.shape, dtype=out.dtype, device=out.device)
    args: list[Any] = []
    for x, rows in ((q, ROWS), (k, bn), (v, bn), (target, ROWS)):
        view = _view(x)
        if view is None:  # a fresh copy: contiguous rows of 128 or 256 bytes at an aligned base
            view = _view(torch.empty(x.shape, dtype=x.dtype, device=x.device).copy_(x))
        if view is None:
            raise ValueError(f"attention operand of shape {tuple(x.shape)}: no 2-D view for TMA, even copied")
        x2, rb, rh, ch = view
        block = [rows, d]
        layout = gl.NVMMASharedLayout.get_default_for(block, dtype)
        args += [TensorDescriptor.from_tensor(x2, block, layout), rb, rh, ch]
    if mask is not None:
        m = mask.reshape((1,) * (4 - mask.dim()) + tuple(mask.shape))
        mask_args = [m, *(0 if m.shape[i] == 1 else m.stride(i) for i in (0, 1, 3))]
    else:
        mask_args = [q, 0, 0, 0]
    per_head = sq // (2 * ROWS)
    tiles = bsz * h * per_head
    # units of two tiles (``gluon_attention_kernel._tile``) where programs run several tiles; with
    # one tile each, a program's longest is per_head key blocks, a pair's per_head + 1
    sms = sm_count()
    paired = causal and per_head % 2 == 0 and tiles > sms
    grid = (min(sms, tiles // (1 + paired)),)
    flash_attention_hopper[grid](
        *args,
        *mask_args,
        h,
        h // hkv,
        sq,
        sk,
        tiles,
        scale * 1.4426950408889634,
        cfg["STAGES"],
        causal,
        mask is not None,
        paired,
        num_warps=4,
        maxnreg=168,  # (three warpgroups' worth; the partitions set 240 and 24 inside)
    )  # (no programmatic dependent launch: it waits for the kernel before it, and the next waits for it)
    if target is not out:
        out.copy_(target)
