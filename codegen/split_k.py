"""Split-K for the convolution and GEMM templates: several programs share one output tile's
reduction.

ResNet-50's late stages at batch 32 have few output tiles and long reductions: the 3x3
convolutions at 14 x 14 (M = 6272 pixels, 256 channels, K = 2304) make 98 tiles of 128 x 128 and
those at 7 x 7 (M = 1568, 512 channels, K = 4608) 52, for 132 SMs. With ``SPLIT_K`` programs per
tile (the grid's third axis), each runs a contiguous share of the reduction steps, so the SMs fill.

The partial sums meet in one kernel (CUTLASS's "serial" split-K reduction, without a second
launch): every program stores its float32 partial into its slot of a workspace, then counts itself
in on the tile's counter (an acquire-release atomic after a block barrier, so every thread's part is
written first). The program that arrives last reads the slots back and adds them in split order
(the same sum whatever the arrival order: results do not depend on scheduling; reading its own
slot back rather than keeping it in registers was 0-20% faster on the H100, RESULTS.md), sets the
counter back to zero for the next launch, and runs the epilogue; the others return. The workspace
and counters are ``StreamKWorkspaces``' (one pair per stream; tuning releases the ones its timing
made). On the H100 the hand-over costs 9-15 us a launch: split forms win at batch 1 (few tiles,
long reductions), not at ResNet-50's batch 32.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tritium.codegen.indexing import Unsupported

SPLIT_LOOP = re.compile(r"^    for (\w+) in (tl\.range|range)\(0, (.+?)(, flatten=True)?\):$")
"""A reduction loop of the template at the top level of the kernel: ``for v in range(0, count):``."""


def split_loop(loop: list[str]) -> list[str]:
    """``loop`` (a reduction at the kernel's top level) over this program's share of its steps:
    steps ``ks * count // SPLIT_K`` up to ``(ks + 1) * count // SPLIT_K``. With SPLIT_K = 1 (a
    constexpr) the bounds stay 0 and ``count``: the same loop as before."""
    at = next(i for i, ln in enumerate(loop) if SPLIT_LOOP.match(ln))
    var, rng, count, flatten = SPLIT_LOOP.match(loop[at]).groups()  # type: ignore[union-attr]
    bounds = [
        "    k_lo = 0",
        f"    k_hi = {count}",
        "    if SPLIT_K > 1:  # this program's share of the reduction steps",
        f"        k_lo = ks * ({count}) // SPLIT_K",
        f"        k_hi = (ks + 1) * ({count}) // SPLIT_K",
    ]
    header = f"    for {var} in {rng}(k_lo, k_hi{flatten or ''}):"
    return [*loop[:at], *bounds, header, *loop[at + 1 :]]


def split_tail(acc_type: str, tile: str) -> list[str]:
    """After the reduction: where the tile's partial sums meet; only the last program goes on.
    ``tile``: the tile's index among the launch's tiles (its counter)."""
    return [
        "    if SPLIT_K > 1:  # the tile's partial sums meet; the last program to arrive goes on",
        f"        tile = {tile}",
        "        slot = tl.arange(0, BLOCK_M)[:, None] * BLOCK_N + tl.arange(0, BLOCK_N)[None, :]",
        "        part_ptr = ws_ptr + tile * (SPLIT_K * BLOCK_M * BLOCK_N) + slot",
        "        tl.store(part_ptr + ks * (BLOCK_M * BLOCK_N), acc)",
        "        tl.debug_barrier()  # every thread's part is written before the count",
        '        arrived = tl.atomic_add(cnt_ptr + tile, 1, sem="acq_rel")',
        "        if arrived < SPLIT_K - 1:",
        "            return",
        "        tl.debug_barrier()  # (the partials, its own too, are read back from L2: .cg)",
        '        acc = tl.load(part_ptr, cache_modifier=".cg")',
        "        for j in tl.static_range(1, SPLIT_K):  # in split order: the same sum in any arrival order",
        '            acc += tl.load(part_ptr + j * (BLOCK_M * BLOCK_N), cache_modifier=".cg")',
        "        tl.atomic_xchg(cnt_ptr + tile, 0)  # zero again for the next launch",
    ]


def reduction_steps(cfg: dict[str, int], window: tuple[int, int, int], form: str | None) -> int:
    """The steps of the convolution template's reduction loop for ``cfg`` over a window of (R, S,
    C) channels: taps for the TMA "same" form (each sums its channel blocks), window rows of S * C
    for "valid", and taps times channel blocks for the pointer kernel."""
    r, s, c = window
    if cfg.get("TMA") and form == "same":
        return r * s
    if cfg.get("TMA") and form == "valid":
        return r * -(-s * c // cfg["BLOCK_K"])
    return r * s * -(-c // cfg["BLOCK_K"])


def split_candidates(
    space: list[dict[str, int]],
    m: int,
    n: int,
    steps: Callable[[dict[str, int]], int],
    sms: int,
    groups: int = 1,
) -> list[dict[str, int]]:
    """Split-K forms of the two likeliest tiles that leave SMs idle (fewer tiles than SMs, whole-
    tile forms only): the three largest splits among 2, 3, 4, 6 and 8 that keep the programs within
    four per SM (small tiles keep several resident) and give each share at least two of the tile's
    ``steps(cfg)`` reduction steps (at batch 1 ResNet-50's 14 x 14 convolutions, 104 tiles of
    16 x 32, took a split of 3 in tuning). A grouped convolution has ``groups`` times the tiles of
    one group's m x n."""
    out = []
    plain = [c for c in space if not any(c.get(f) for f in ("PERSISTENT", "STREAMK", "SPLIT", "WS"))]
    for c in [c for c in plain if groups * -(-m // c["BLOCK_M"]) * -(-n // c["BLOCK_N"]) < sms][:2]:
        tiles = groups * -(-m // c["BLOCK_M"]) * -(-n // c["BLOCK_N"])
        fits = [k for k in (2, 3, 4, 6, 8) if tiles * k <= 4 * sms and steps(c) >= 2 * k]
        out += [{**c, "SPLIT_K": k} for k in fits[-3:][::-1]]
    return out


def split_launch(
    kernel: Any, cfg: dict[str, int], tiles: int, like: Any, applies: bool = True
) -> tuple[int, list[Any], dict[str, int]]:
    """A launch's share of split-K for ``kernel`` (its ``splittable``, ``_workspaces`` and ``name``)
    over ``tiles`` tiles: the programs per tile (``cfg``'s SPLIT_K), the workspace arguments and the
    SPLIT_K constexpr. Only the forms generated with ``split_tail`` take them (``applies``); with
    SPLIT_K = 1 the workspace arguments are placeholders (``like``) the kernel never touches."""
    split = cfg.get("SPLIT_K", 1)
    if not (applies and kernel.splittable):
        if applies and split > 1:
            raise Unsupported(f"kernel '{kernel.name}' cannot split its reduction (SPLIT_K={split})")
        return 1, [], {}
    workspace = kernel._workspaces.get(cfg, tiles * split, like.device) if split > 1 else [like, like]
    return split, workspace, {"SPLIT_K": split}
