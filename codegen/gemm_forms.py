"""The GEMM template's Hopper forms: the persistent and stream-K loops (rewrites of the
one-tile-per-program body that ``gemm.py`` generates), and what their launches need: tensor
descriptors of the operands and outputs, and stream-K's workspace."""

from __future__ import annotations

from typing import Any

from tritium.codegen.triton_env import constexpr_sizes

STATIC_K_MAX = 128
"""The longest reduction ``static_k`` makes a compile-time constant (a K of 256 gained nothing)."""


def static_k(k: Any) -> bool:
    """Whether a GEMM's reduction length ``k`` is a compile-time constant of its kernel (``K:
    tl.constexpr``): static, at most STATIC_K_MAX, and ``TRITIUM_CONSTEXPR_SIZES`` lists "gemm"."""
    if not constexpr_sizes("gemm"):  # (read first: a misspelt switch fails every GEMM's build)
        return False
    return isinstance(k, int) and 0 < k <= STATIC_K_MAX


def tma_addressable(x2: Any) -> bool:
    """Whether TMA can address the 2-D view ``x2``: unit stride last, 16-byte aligned rows and base."""
    return x2.stride(1) == 1 and (x2.stride(0) * x2.element_size()) % 16 == 0 and x2.data_ptr() % 16 == 0


def k_major(b: Any) -> bool:
    """Whether a 2-D right-hand operand is held transposed (unit stride along K)."""
    return b.stride(0) == 1 and b.stride(1) != 1


def tile_placement(pid: str) -> list[str]:
    """Lines (indented one level) placing tile ``pid``: GROUP_M rows of tiles at a time, for L2 reuse."""
    return [
        f"    group = {pid} // (GROUP_M * num_pid_n)",
        "    first_m = group * GROUP_M",
        "    group_size = tl.minimum(num_pid_m - first_m, GROUP_M)",
        f"    pid_m = first_m + ({pid} % (GROUP_M * num_pid_n)) % group_size",
        f"    pid_n = ({pid} % (GROUP_M * num_pid_n)) // group_size",
        "    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)",
        "    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)",
    ]


def persistent_loop(lines: list[str], main_end: int) -> list[str]:
    """The one-tile-per-program body ``lines`` (placement, then the product up to ``main_end``,
    then the epilogue) as a persistent loop: NUM_SMS programs step through the tiles, and the
    flattened loop lets the software pipeliner load the next tile's operands during this tile's
    epilogue. The epilogue places its tile from a second counter, ``tile_c``, so that nothing
    computed before the product is live across it (as Triton's persistent-matmul tutorial does)."""
    place = 3 + len(tile_placement("pid"))  # program id, tile counts, then the tile's placement
    assert lines[3:place] == tile_placement("pid")
    main, tail = lines[place:main_end], lines[main_end:]
    out = [*lines[1:3], "    tile_c = tl.program_id(0) - NUM_SMS"]
    out += [
        "    for tile in tl.range(tl.program_id(0), num_pid_m * num_pid_n, NUM_SMS, flatten=True, warp_specialize=WS):"
    ]
    out += ["    " + ln for ln in [*tile_placement("tile"), *main]]
    out += ["        tile_c += NUM_SMS", *("    " + ln for ln in tile_placement("tile_c"))]
    return out + ["    " + ln for ln in tail]


def streamk_loop(lines: list[str], main_end: int) -> list[str]:
    """The one-tile-per-program body ``lines`` as stream-K with data-parallel waves (Osama et al.,
    "Stream-K", 2023: "two-tile stream-K + DP"): one program per SM (at most one per K iteration)
    first runs whole tiles for all but the last one or two waves' worth, then the K iterations of
    the remaining tiles are split evenly between the programs, a contiguous run each. So a GEMM
    with too few tiles for whole waves (BERT's 4096 x 768 outputs: 96 tiles of 128 x 256 for 132
    SMs; 4096^3: 3.9 waves of 128 x 256) keeps every SM busy to the end.

    A tile split between programs is finished by the program holding its first K iterations: those
    come last in that program's run, while the tile's later iterations come first in the split part
    of the runs of the programs after it (after their whole tiles), which hand their partial sums
    over through their workspace slot and raise their flag before anything else of the split part.
    So the finisher's waits are short, and they only go to programs of lower id: it adds the partials
    in program order (the same sum every run) and runs the epilogue. Programs take their runs in
    reverse program-id order (``v``): the Triton interpreter runs programs one after another in id
    order, so the contributors run first there too. Flags are cleared by their reader, so the next
    launch (or CUDA-graph replay) finds them at zero."""
    place = 3 + len(tile_placement("pid"))
    assert lines[3:place] == tile_placement("pid")
    main, tail = lines[place:main_end], lines[main_end:]
    loop = "    for k in range(0, tl.cdiv(K, BLOCK_K)):"
    assert loop in main
    main = ["    for k in range(k_first, k_last):" if ln == loop else ln for ln in main]
    # a program's slot, addressed from the tile's rows and columns (a tile-sized offset tensor made
    # once would stay live in registers across the whole loop: 64-128 of them, and spills)
    slot = "BLOCK_M * BLOCK_N + (rm[:, None] % BLOCK_M) * BLOCK_N + rn[None, :] % BLOCK_N"
    return [
        *lines[1:3],
        "    k_iters = tl.cdiv(K, BLOCK_K)",
        "    tiles = num_pid_m * num_pid_n",
        "    programs = tl.num_programs(0)  # at most the iterations: every program has some",
        "    v = programs - 1 - tl.program_id(0)",
        "    dp_rounds = tl.maximum(tiles // programs - 1, 0)  # whole tiles; the rest split",
        "    sk_first = dp_rounds * programs * k_iters",
        "    sk_total = tiles * k_iters - sk_first",
        "    it = sk_first + v * sk_total // programs",
        "    it_end = sk_first + (v + 1) * sk_total // programs",
        "    dp = 0",
        "    while it < it_end:",
        "        if dp < dp_rounds:",
        "            tile = dp * programs + v",
        "            k_first = 0",
        "            k_last = k_iters",
        "            dp += 1",
        "        else:",
        "            tile = it // k_iters",
        "            k_first = it - tile * k_iters",
        "            k_last = tl.minimum(k_iters, k_first + it_end - it)",
        "            it += k_last - k_first",
        *("    " + ln for ln in [*tile_placement("tile"), *main]),
        "        if k_first > 0:  # the tile began in an earlier program: hand over the partial sum",
        f"            tl.store(ws_ptr + v * {slot}, acc)",
        "            tl.debug_barrier()  # every thread's part of the partial is written before the flag",
        '            tl.atomic_xchg(flags_ptr + v, 1, sem="release")',
        "        else:",
        "            if k_last < k_iters:  # the tile goes on in the next programs: add their partials",
        "                last = ((tile * k_iters + k_iters - sk_first) * programs - 1) // sk_total",
        "                p = v + 1",
        "                while p <= last:",
        '                    ready = tl.atomic_add(flags_ptr + p, 0, sem="acquire")',
        "                    while ready == 0:",
        '                        ready = tl.atomic_add(flags_ptr + p, 0, sem="acquire")',
        "                    tl.debug_barrier()",
        f'                    acc += tl.load(ws_ptr + p * {slot}, cache_modifier=".cg")',
        "                    tl.atomic_xchg(flags_ptr + p, 0)",
        "                    p += 1",
        *("        " + ln for ln in tail),
    ]


def operand_descriptors(a: Any, b: Any, cfg: dict[str, int]) -> list[Any] | None:
    """Tensor descriptors of ``a`` (rows of K) and ``b`` (row-major [K, N] or K-major) for the TMA
    variants, or None where TMA cannot address them: the pointer kernel then runs with the same
    tiles."""
    from triton.tools.tensor_descriptor import TensorDescriptor

    a2 = a.reshape(-1, a.shape[-1])
    kmajor = k_major(b)
    b2 = b.t() if kmajor else b  # [N, K] or [K, N], unit stride last
    if not (tma_addressable(a2) and tma_addressable(b2)):
        return None
    bm, bn, bk = cfg["BLOCK_M"], cfg["BLOCK_N"], cfg["BLOCK_K"]
    b_block = [bn, bk] if kmajor else [bk, bn]
    return [TensorDescriptor.from_tensor(a2, [bm, bk]), TensorDescriptor.from_tensor(b2, b_block)]


def store_descriptors(outputs: list[Any], cfg: dict[str, int]) -> list[Any] | None:
    """Tensor descriptors writing each output's tiles (its rows of N; half tiles with SPLIT), or None
    where TMA cannot address one of them: the epilogue then stores through pointers."""
    from triton.tools.tensor_descriptor import TensorDescriptor

    out = []
    for y in outputs:
        if not y.is_contiguous():
            return None
        y2 = y.view(-1, y.shape[-1])
        if not tma_addressable(y2):
            return None
        bn = cfg["BLOCK_N"] // 2 if cfg.get("SPLIT") else cfg["BLOCK_N"]
        out.append(TensorDescriptor.from_tensor(y2, [cfg["BLOCK_M"], bn]))
    return out


class StreamKWorkspaces:
    """The partial sums of stream-K and split-K (one float32 tile per program) and their flags or
    counters (zero between launches), one pair per stream: contexts on other streams may run the
    kernel at the same time. Kept with the kernel, so CUDA graphs that captured them stay valid;
    tuning releases the pairs its timing made on its own short-lived streams (``release``)."""

    def __init__(self) -> None:
        self.by_key: dict[tuple, list[Any]] = {}

    def get(self, cfg: dict[str, int], programs: int, device: Any) -> list[Any]:
        import torch

        stream = torch.cuda.current_stream(device).cuda_stream if device.type == "cuda" else 0
        key = (str(device), stream, cfg["BLOCK_M"] * cfg["BLOCK_N"], programs)
        if key not in self.by_key:
            self.by_key[key] = [
                torch.empty(programs * key[2], dtype=torch.float32, device=device),
                torch.zeros(programs, dtype=torch.int32, device=device),
            ]
        return self.by_key[key]

    def release(self, keep: set[tuple]) -> None:
        """Drop the pairs not in ``keep`` (their launches must have finished)."""
        self.by_key = {k: v for k, v in self.by_key.items() if k in keep}


SMEM_LIMIT = 227 * 1024
"""Shared memory per block on Hopper."""


def store_by_tma(cfg: dict[str, int], fused: Any, itemsize: int) -> dict[str, int]:
    """``cfg`` with TMA_STORE where the output tile fits shared memory beside the operand stages
    (measured on an H200: the same or up to 10% faster than pointer stores; not a candidate of
    its own). The persistent form needs about 32 KB more than its stages and tile."""
    out_size = sum(r.type.dtype.itemsize for r in fused.results)  # a tile each
    tile = cfg["BLOCK_M"] * cfg["BLOCK_N"] * out_size // (2 if cfg.get("SPLIT") else 1)
    stages = cfg["num_stages"] * (cfg["BLOCK_M"] + cfg["BLOCK_N"]) * cfg["BLOCK_K"] * itemsize
    need = stages + tile + (32 * 1024 if cfg.get("PERSISTENT") or cfg.get("STREAMK") else 0) + 1024
    return {**cfg, "TMA_STORE": 1} if need <= SMEM_LIMIT else cfg
