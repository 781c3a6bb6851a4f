"""A warp-specialized "ping-pong" GEMM for Hopper, written in Gluon (Triton's lower-level language, in
Triton 3.6 as ``triton.experimental.gluon``): a measured prototype, not yet a Tritium tactic.

    python benchmarks/pingpong_gemm.py [--shapes bert_ffn1,vit_ffn1,...] [--no-tritium]

Why: a Triton GEMM's epilogue runs after its products, so the tensor cores idle through it: a GELU
costs 3-8 us over the bias-only product on the FFN1 GEMMs of BERT and ViT (RESULTS.md). Triton's
automatic warp specialization only splits the loads from the products, and two blocks per SM did
not hide the epilogue either (earlier sessions). CUTLASS's answer on Hopper is the ping-pong
schedule, written out here by hand:

- one producer warp issues the TMA loads of A and B tiles into a ring of S shared-memory slots
  (``ready`` barriers carry the bytes, ``empty`` barriers return the slots);
- two consumer warpgroups take alternate output tiles of the persistent program's run, each with
  its own 128 x 128 float32 accumulator in registers (128 per thread, under a limit of 240 that
  setmaxnreg sets; the producer keeps 24);
- the consumers take turns through their products (the ``turn`` barriers), so one's epilogue (bias,
  GELU, the float16 store by TMA) runs while the other's products do. The turns also keep each
  consumer within one phase of the ring's barriers: without them the second consumer waited on a
  slot three phases ahead, saw an earlier phase of the same parity as its own, and read its
  operands before they arrived (wrong results, then a fault at BERT's sizes: found on the H100).

What it measured is in RESULTS.md and NOTES.md ("Eighteenth session"). Writes $OUT/pingpong_gemm.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
import triton
from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.hopper import (
    fence_async_shared,
    mbarrier,
    tma,
    warpgroup_mma,
    warpgroup_mma_wait,
)
from triton.experimental.gluon.nvidia.hopper import TensorDescriptor

from tritium.codegen.device_math import _GELU_FITS
from tritium.codegen.tuning import bench_ms

GELU_F16 = gl.constexpr(tuple(_GELU_FITS["gelu_erf_f16"][1]))


@gluon.jit
def _gelu_f16(x):
    """x * Phi(x) by Phi(-|x|) = 2^p(|x|): Tritium's float16 fit (``device_math``), highest degree first."""
    a = gl.abs(x)
    p = GELU_F16[0] * a + GELU_F16[1]
    for i in gl.static_range(2, len(GELU_F16)):
        p = p * a + GELU_F16[i]
    e = gl.exp2(p)
    return x * gl.where(x >= 0, 1.0 - e, e)


@gluon.jit
def _place(t, M, N, BM: gl.constexpr, BN: gl.constexpr, GROUP_M: gl.constexpr):
    """Tile ``t``'s offsets: GROUP_M rows of tiles at a time, for L2 reuse (as Tritium's GEMMs)."""
    num_n = gl.cdiv(N, BN)
    group = t // (GROUP_M * num_n)
    first_m = group * GROUP_M
    size = gl.minimum(gl.cdiv(M, BM) - first_m, GROUP_M)
    return (first_m + (t % (GROUP_M * num_n)) % size) * BM, (t % (GROUP_M * num_n)) // size * BN


@gluon.jit
def _consume(who: gl.constexpr, p, GELU: gl.constexpr, GROUP_M: gl.constexpr):
    """Consumer ``who`` (0 or 1): tiles who, who + 2, ... of this program's run (tiles pid + i * G).
    ``p``: what every partition reads (``pingpong_kernel``)."""
    a_desc, _, c_desc, bias_ptr, a_bufs, b_bufs, c0, c1, ready, empty, turn, M, N, K = p
    c_smem = c1 if who else c0
    BM: gl.constexpr = c_desc.block_type.shape[0]
    BN: gl.constexpr = c_desc.block_type.shape[1]
    BK: gl.constexpr = a_desc.block_type.shape[1]
    S: gl.constexpr = a_bufs.type.shape[0]
    layout: gl.constexpr = gl.NVMMADistributedLayout(
        version=[3, 0], warps_per_cta=[4, 1], instr_shape=[16, BN, 16]
    )
    pid = gl.program_id(0)
    G = gl.num_programs(0)
    tiles = gl.cdiv(M, BM) * gl.cdiv(N, BN)
    nk = gl.cdiv(K, BK)
    for t in range(pid + who * G, tiles, 2 * G):
        cnt = (t - pid) // G * nk  # the tile's first position in the ring the producer fills
        # Wait for the other consumer's products to be issued (consumer 0 starts); the parity is
        # that of this consumer's own tile count. A waiter more than one phase ahead of a barrier
        # would take an earlier phase of the same parity as its own.
        mine = (t - pid) // (2 * G)
        mbarrier.wait(turn.index(who), (mine & 1) ^ (1 - who))
        off_m, off_n = _place(t, M, N, BM, BN, GROUP_M)
        acc = gl.zeros([BM, BN], gl.float32, layout)
        for k in range(nk):
            s = cnt % S
            mbarrier.wait(ready.index(s), (cnt // S) & 1)
            acc = warpgroup_mma(a_bufs.index(s), b_bufs.index(s), acc, is_async=True)
            acc = warpgroup_mma_wait(1, deps=[acc])  # the previous step's product is done: free its slot
            mbarrier.arrive(empty.index((cnt + S - 1) % S), count=1, pred=k > 0)
            cnt += 1
        mbarrier.arrive(turn.index(1 - who), count=1)  # the other consumer's turn
        acc = warpgroup_mma_wait(0, deps=[acc])
        mbarrier.arrive(empty.index((cnt + S - 1) % S), count=1)
        rn = off_n + gl.arange(0, BN, layout=gl.SliceLayout(0, layout))
        acc = acc + gl.expand_dims(gl.load(bias_ptr + rn, mask=rn < N, other=0.0).to(gl.float32), 0)
        if GELU:
            acc = _gelu_f16(acc)
        tma.store_wait(pendings=0)  # the previous tile's store has left c_smem
        c_smem.store(acc.to(c_desc.dtype))
        fence_async_shared()
        tma.async_copy_shared_to_global(c_desc, [off_m, off_n], c_smem)
    tma.store_wait(pendings=0)


@gluon.jit
def _consumer0(p, GELU: gl.constexpr, GROUP_M: gl.constexpr):
    _consume(0, p, GELU, GROUP_M)


@gluon.jit
def _consumer1(p, GELU: gl.constexpr, GROUP_M: gl.constexpr):
    _consume(1, p, GELU, GROUP_M)


@gluon.jit
def _produce(p, GELU: gl.constexpr, GROUP_M: gl.constexpr):
    a_desc, b_desc, c_desc, _, a_bufs, b_bufs, _, _, ready, empty, _, M, N, K = p
    BM: gl.constexpr = c_desc.block_type.shape[0]
    BN: gl.constexpr = c_desc.block_type.shape[1]
    BK: gl.constexpr = a_desc.block_type.shape[1]
    S: gl.constexpr = a_bufs.type.shape[0]
    nbytes: gl.constexpr = a_desc.block_type.nbytes + b_desc.block_type.nbytes
    cnt = 0
    for t in range(gl.program_id(0), gl.cdiv(M, BM) * gl.cdiv(N, BN), gl.num_programs(0)):
        off_m, off_n = _place(t, M, N, BM, BN, GROUP_M)
        for k in range(0, K, BK):
            s = cnt % S
            mbarrier.wait(empty.index(s), ((cnt // S) & 1) ^ 1)  # (a fresh barrier passes parity 1)
            mbarrier.expect(ready.index(s), nbytes)
            tma.async_copy_global_to_shared(a_desc, [off_m, k], ready.index(s), a_bufs.index(s))
            tma.async_copy_global_to_shared(b_desc, [k, off_n], ready.index(s), b_bufs.index(s))
            cnt += 1


@gluon.jit
def pingpong_kernel(
    a_desc, b_desc, c_desc, bias_ptr, M, N, K, GELU: gl.constexpr, S: gl.constexpr, GROUP_M: gl.constexpr
):
    a_bufs = gl.allocate_shared_memory(a_desc.dtype, [S] + a_desc.block_type.shape, a_desc.layout)
    b_bufs = gl.allocate_shared_memory(b_desc.dtype, [S] + b_desc.block_type.shape, b_desc.layout)
    c0 = gl.allocate_shared_memory(c_desc.dtype, c_desc.block_type.shape, c_desc.layout)
    c1 = gl.allocate_shared_memory(c_desc.dtype, c_desc.block_type.shape, c_desc.layout)
    ready = gl.allocate_shared_memory(gl.int64, [S, 1], mbarrier.MBarrierLayout())
    empty = gl.allocate_shared_memory(gl.int64, [S, 1], mbarrier.MBarrierLayout())
    turn = gl.allocate_shared_memory(gl.int64, [2, 1], mbarrier.MBarrierLayout())
    for i in gl.static_range(S):
        mbarrier.init(ready.index(i), count=1)
        mbarrier.init(empty.index(i), count=1)
    for i in gl.static_range(2):
        mbarrier.init(turn.index(i), count=1)
    p = (a_desc, b_desc, c_desc, bias_ptr, a_bufs, b_bufs, c0, c1, ready, empty, turn, M, N, K)
    args = (p, GELU, GROUP_M)
    # registers per thread: 240 for each consumer, 24 for the producer (3 warpgroups of 168 at launch)
    gl.warp_specialize([(_consumer0, args), (_consumer1, args), (_produce, args)], [4, 1], [240, 24])


def pingpong(a, b, c, bias, gelu=True, BM=128, BN=128, BK=64, S=4, GROUP_M=8):
    """c = a @ b + bias (then GELU), float16 row-major a [M, K], b [K, N], c [M, N]."""
    (M, K), N = a.shape, b.shape[1]

    def desc(x, block):
        return TensorDescriptor.from_tensor(x, block, gl.NVMMASharedLayout.get_default_for(block, gl.float16))

    tiles = triton.cdiv(M, BM) * triton.cdiv(N, BN)
    grid = (min(torch.cuda.get_device_properties(a.device).multi_processor_count, tiles),)
    pingpong_kernel[grid](
        desc(a, [BM, BK]),
        desc(b, [BK, BN]),
        desc(c, [BM, BN]),
        bias,
        M,
        N,
        K,
        gelu,
        S,
        GROUP_M,
        num_warps=4,
        maxnreg=168,
    )


SHAPES = {  # M, K, N
    "bert_ffn1": (4096, 768, 3072),
    "vit_ffn1": (6304, 768, 3072),
    "bert_ffn2": (4096, 3072, 768),
    "bert_qkv": (4096, 768, 2304),
    "bert_out": (4096, 768, 768),
    "4096^3": (4096, 4096, 4096),
}
IR = """func.func @main(%a: {a}, %b: {b}, %c: {c}) -> {o} attributes {{input_names = ["a", "b", "c"], output_names = ["y"]}} {{
  %y = nn.matmul %a, %b : ({a}, {b}) -> {o}
  %t = nn.add %y, %c : ({o}, {c}) -> {o}
  {gelu}
  func.return {result} : {o}
}}"""
VARIANTS = [
    (128, 128, 64, 4, 8),
    (128, 128, 64, 4, 1),
    (128, 128, 64, 3, 8),
    (128, 64, 64, 6, 8),
]  # BM BN BK S G


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", default=",".join(SHAPES))
    ap.add_argument("--no-tritium", action="store_true", help="skip tuning Tritium's generated kernels")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_kernels import kernel_of, ty

    rows = []
    for label in args.shapes.split(","):
        M, K, N = SHAPES[label]
        torch.manual_seed(0)
        a = torch.randn(M, K, device="cuda", dtype=torch.float16)
        b = (torch.randn(K, N, device="cuda") / K**0.5).half()
        bias = torch.randn(N, device="cuda", dtype=torch.float16)
        c = torch.empty(M, N, device="cuda", dtype=torch.float16)
        ref = a.float() @ b.float() + bias.float()
        row: dict = {"shape": label, "M": M, "K": K, "N": N, "pingpong": {}}
        for v in VARIANTS:
            times, errors = {}, {}
            for gelu in (False, True):
                pingpong(a, b, c, bias, gelu, *v)
                torch.cuda.synchronize()
                errors[gelu] = (c.float() - (F.gelu(ref) if gelu else ref)).abs().max().item()
                # float16 results of O(1) values: a wrong tile is off by O(1), rounding by about 2e-3
                assert errors[gelu] < 1e-2, (
                    f"{label} {v} (GELU {gelu}): wrong results, max error {errors[gelu]}"
                )
                times[gelu] = bench_ms(lambda gelu=gelu: pingpong(a, b, c, bias, gelu, *v), replays=21)
            row["pingpong"][str(v)] = {
                "bias_ms": times[False],
                "gelu_ms": times[True],
                "max_err": max(errors.values()),
            }
            print(label, v, row["pingpong"][str(v)], flush=True)
        row["cublas_ms"] = bench_ms(lambda: torch.matmul(a, b, out=c), replays=21)
        if not args.no_tritium:  # Tritium's tuned generated kernels (no library tactics), same shapes
            o = ty((M, N))
            for name, gelu_line, result in (("bias", "", "%t"), ("gelu", f"%g = nn.gelu %t : {o}", "%g")):
                text = IR.format(a=ty((M, K)), b=ty((K, N)), c=ty((N,)), o=o, gelu=gelu_line, result=result)
                step, run = kernel_of(text, {"a": a, "b": b, "c": bias})
                row[f"tritium_{name}_ms"], row[f"tritium_{name}_config"] = (
                    bench_ms(run, replays=21),
                    step.config,
                )
        row["cublas_ms_again"] = bench_ms(lambda: torch.matmul(a, b, out=c), replays=21)
        print(json.dumps(row), flush=True)
        rows.append(row)
    out = Path(os.environ.get("OUT", ".")) / "pingpong_gemm.json"
    out.write_text(
        json.dumps(
            {"card": torch.cuda.get_device_name(), "triton": triton.__version__, "rows": rows}, indent=1
        )
    )


if __name__ == "__main__":
    main()
