"""What a GEMM epilogue costs on the GPU, and which form of it is cheapest (the eighth session's
experiment behind the side-input masks, the TMA stores and the GELU helper; RESULTS.md).

    python benchmarks/epilogue_forms.py [1|2|3|all]     # writes $OUT/epilogue.json

Hand-written copies of Tritium's TMA GEMM kernel (as generated then; placement and epilogue in
jitted helpers, which Triton inlines: the figures in RESULTS.md were measured with them written
out in each kernel) with constexpr switches:
  EPI: 0 acc only, 1 +bias, 2 +bias GELU(erf, libdevice), 3 +bias GELU(erfc rational form),
       4 +bias GELU(tanh as x/(1+exp(-2u))), 5 +bias +residual
  BIAS2D: the bias loaded as a [BM, BN] masked broadcast (as generated now) or as a row [BN]
  TMA_STORE: output written by a tensor descriptor instead of masked pointer stores
  RES_TMA: residual read by a tensor descriptor
"""

import json
import os
import sys

import torch
import triton
import triton.language as tl
from triton.tools.tensor_descriptor import TensorDescriptor

from tritium.codegen.tuning import bench_ms


@triton.jit
def _gelu_erfc(x):
    # 0.5 x (1 + erf(x / sqrt 2)): erfc(|z|) by Numerical Recipes' erfcc (fractional error < 1.2e-7)
    z = tl.abs(x) * 0.7071067811865476
    t = 1.0 / (1.0 + 0.5 * z)
    p = 0.17087277
    p = p * t - 0.82215223
    p = p * t + 1.48851587
    p = p * t - 1.13520398
    p = p * t + 0.27886807
    p = p * t - 0.18628806
    p = p * t + 0.09678418
    p = p * t + 0.37409196
    p = p * t + 1.00002368
    p = p * t - 1.26551223
    e = t * tl.exp(p - z * z)
    return 0.5 * x * tl.where(x >= 0, 2.0 - e, e)


@triton.jit
def _epilogue(
    acc,
    rm,
    rn,
    M,
    N,
    bias_ptr,
    res_ptr,
    res_desc,
    pid_m,
    pid_n,
    EPI: tl.constexpr,
    BIAS2D: tl.constexpr,
    RES_TMA: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
):
    em = rm[:, None]
    en = rn[None, :]
    mask = (em < M) & (en < N)
    if EPI >= 1:
        if BIAS2D:
            x2 = tl.load(bias_ptr + en, mask=mask, other=0.0).to(tl.float32)
        else:
            x2 = tl.load(bias_ptr + rn, mask=rn < N, other=0.0).to(tl.float32)[None, :]
        acc = acc + x2
    if EPI == 2:
        acc = 0.5 * acc * (1.0 + tl.erf(acc * 0.7071067811865476))
    if EPI == 3:
        acc = _gelu_erfc(acc)
    if EPI == 4:
        u = 0.7978845608028654 * (acc + 0.044715 * acc * acc * acc)
        acc = acc / (1.0 + tl.exp(-2.0 * u))
    if EPI == 5:
        if RES_TMA:
            r = res_desc.load([pid_m * BLOCK_M, pid_n * BLOCK_N]).to(tl.float32)
        else:
            r = tl.load(res_ptr + em * N + en, mask=mask, other=0.0).to(tl.float32)
        acc = acc + r
    return acc


@triton.jit
def _place(tile, M, N, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, GROUP_M: tl.constexpr):
    # the tile's (row, column) of tiles: GROUP_M rows of tiles at a time, as the generated kernels
    num_pid_m = tl.cdiv(M, BLOCK_M)
    num_pid_n = tl.cdiv(N, BLOCK_N)
    group = tile // (GROUP_M * num_pid_n)
    first_m = group * GROUP_M
    group_size = tl.minimum(num_pid_m - first_m, GROUP_M)
    return first_m + (tile % (GROUP_M * num_pid_n)) % group_size, (tile % (GROUP_M * num_pid_n)) // group_size


@triton.jit
def _finish(acc, pid_m, pid_n, c_desc, c_ptr, bias_ptr, res_ptr, res_desc, M, N,
            BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, EPI: tl.constexpr, BIAS2D: tl.constexpr,
            TMA_STORE: tl.constexpr, RES_TMA: tl.constexpr):  # fmt: skip
    # the epilogue on the tile, then its store (a tensor descriptor or masked pointers)
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    acc = _epilogue(
        acc, rm, rn, M, N, bias_ptr, res_ptr, res_desc, pid_m, pid_n, EPI, BIAS2D, RES_TMA, BLOCK_M, BLOCK_N
    )
    if TMA_STORE:
        c_desc.store([pid_m * BLOCK_M, pid_n * BLOCK_N], acc.to(tl.float16))
    else:
        mask = (rm[:, None] < M) & (rn[None, :] < N)
        tl.store(c_ptr + rm[:, None] * N + rn[None, :], acc.to(tl.float16), mask=mask)


@triton.jit
def _product(a_desc, b_desc, pid_m, pid_n, K, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
             BLOCK_K: tl.constexpr):  # fmt: skip
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        a = a_desc.load([pid_m * BLOCK_M, k * BLOCK_K])
        b = b_desc.load([k * BLOCK_K, pid_n * BLOCK_N])
        acc = tl.dot(a, b, acc)
    return acc


@triton.jit
def gemm(a_desc, b_desc, c_desc, c_ptr, bias_ptr, res_ptr, res_desc, M, N, K,
         BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr,
         EPI: tl.constexpr, BIAS2D: tl.constexpr, TMA_STORE: tl.constexpr, RES_TMA: tl.constexpr):  # fmt: skip
    pid_m, pid_n = _place(tl.program_id(0), M, N, BLOCK_M, BLOCK_N, GROUP_M)
    acc = _product(a_desc, b_desc, pid_m, pid_n, K, BLOCK_M, BLOCK_N, BLOCK_K)
    _finish(acc, pid_m, pid_n, c_desc, c_ptr, bias_ptr, res_ptr, res_desc, M, N,
            BLOCK_M, BLOCK_N, EPI, BIAS2D, TMA_STORE, RES_TMA)  # fmt: skip


@triton.jit
def gemm_persistent(a_desc, b_desc, c_desc, c_ptr, bias_ptr, res_ptr, res_desc, M, N, K,
                    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                    GROUP_M: tl.constexpr, EPI: tl.constexpr, BIAS2D: tl.constexpr,
                    TMA_STORE: tl.constexpr, RES_TMA: tl.constexpr, NUM_SMS: tl.constexpr,
                    WS: tl.constexpr):  # fmt: skip
    tiles = tl.cdiv(M, BLOCK_M) * tl.cdiv(N, BLOCK_N)
    for tile in tl.range(tl.program_id(0), tiles, NUM_SMS, flatten=True, warp_specialize=WS):
        pid_m, pid_n = _place(tile, M, N, BLOCK_M, BLOCK_N, GROUP_M)
        acc = _product(a_desc, b_desc, pid_m, pid_n, K, BLOCK_M, BLOCK_N, BLOCK_K)
        _finish(acc, pid_m, pid_n, c_desc, c_ptr, bias_ptr, res_ptr, res_desc, M, N,
                BLOCK_M, BLOCK_N, EPI, BIAS2D, TMA_STORE, RES_TMA)  # fmt: skip


def run(m, k, n, epi, form, bm, bn, bias2d, tma_store, res_tma=0, warps=8, stages=3):
    torch.manual_seed(0)
    a = torch.randn(m, k, device="cuda", dtype=torch.float16)
    b = torch.randn(k, n, device="cuda", dtype=torch.float16) / k**0.5
    bias = torch.randn(n, device="cuda", dtype=torch.float16)
    res = torch.randn(m, n, device="cuda", dtype=torch.float16)
    c = torch.empty(m, n, device="cuda", dtype=torch.float16)
    bk = 64
    ad = TensorDescriptor.from_tensor(a, [bm, bk])
    bd = TensorDescriptor.from_tensor(b, [bk, bn])
    cd = TensorDescriptor.from_tensor(c, [bm, bn])
    rd = TensorDescriptor.from_tensor(res, [bm, bn])
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    tiles = triton.cdiv(m, bm) * triton.cdiv(n, bn)
    common = dict(
        BLOCK_M=bm,
        BLOCK_N=bn,
        BLOCK_K=bk,
        GROUP_M=8,
        EPI=epi,
        BIAS2D=bias2d,
        TMA_STORE=tma_store,
        RES_TMA=res_tma,
        num_warps=warps,
        num_stages=stages,
    )
    if form == "tma":

        def call():
            gemm[(tiles,)](ad, bd, cd, c, bias, res, rd, m, n, k, **common)
    else:

        def call():
            gemm_persistent[(min(sms, tiles),)](
                ad, bd, cd, c, bias, res, rd, m, n, k, **common, NUM_SMS=sms, WS=form == "ws"
            )

    call()
    torch.cuda.synchronize()
    ref = a.float() @ b.float()
    if epi >= 1:
        ref = ref + bias.float()
    if epi in (2, 3):
        ref = torch.nn.functional.gelu(ref)
    if epi == 4:
        ref = torch.nn.functional.gelu(ref, approximate="tanh")
    if epi == 5:
        ref = ref + res.float()
    err = float((c.float() - ref).abs().max())
    return bench_ms(call, replays=21), err


def main():
    rows = []

    def rec(**kw):
        rows.append(kw)
        print(json.dumps(kw), flush=True)

    # torch references
    for m, k, n, label in [(4096, 768, 3072, "ffn1"), (4096, 3072, 768, "ffn2"), (4096, 768, 2304, "qkv")]:
        a = torch.randn(m, k, device="cuda", dtype=torch.float16)
        b = torch.randn(k, n, device="cuda", dtype=torch.float16)
        bias = torch.randn(n, device="cuda", dtype=torch.float16)
        res = torch.randn(m, n, device="cuda", dtype=torch.float16)
        rec(shape=label, impl="torch mm", ms=bench_ms(lambda: a @ b, replays=21))
        rec(shape=label, impl="torch addmm", ms=bench_ms(lambda: torch.addmm(bias, a, b), replays=21))
        rec(
            shape=label,
            impl="torch addmm+gelu",
            ms=bench_ms(lambda: torch.nn.functional.gelu(torch.addmm(bias, a, b)), replays=21),
        )
        rec(
            shape=label,
            impl="torch addmm+res",
            ms=bench_ms(lambda: torch.addmm(bias, a, b) + res, replays=21),
        )
    stage = sys.argv[1] if len(sys.argv) > 1 else "all"
    tiles = [(128, 256, 8, 3), (128, 128, 8, 3), (128, 128, 4, 4)]
    forms = ["tma", "persistent", "ws"]

    def measure(
        shape: str, mkn: tuple, epi: int, form: str, tile: tuple, bias2d: int, tstore: int, rtma: int = 0
    ):
        """One kernel form timed (or its compile error) and recorded."""
        bm, bn, w, s = tile
        try:
            ms, err = run(*mkn, epi, form, bm, bn, bias2d, tstore, rtma, warps=w, stages=s)
        except Exception as e:
            ms, err = None, str(e).splitlines()[0][:120]
        rec(shape=shape, epi=epi, form=form, tile=f"{bm}x{bn} w{w} s{s}", bias2d=bias2d, tma_store=tstore,
            res_tma=rtma, ms=ms, err=err)  # fmt: skip

    ffn1 = (4096, 768, 3072)
    for form in forms:
        for tile in tiles:
            if stage in ("all", "1"):  # 1: the epilogue's load and store forms, GELU(erf) on ffn1
                for bias2d, tstore in [(1, 0), (0, 0), (0, 1)]:
                    measure("ffn1", ffn1, 2, form, tile, bias2d, tstore)
            if stage in ("all", "2"):  # 2: the epilogue's math
                for epi in (0, 1, 2, 3, 4):
                    measure("ffn1", ffn1, epi, form, tile, 0, 1)
            if stage in ("all", "3"):  # 3: residual GEMM (ffn2) and bias GEMM (qkv)
                for shape, mkn, epi in [("ffn2", (4096, 3072, 768), 5), ("qkv", (4096, 768, 2304), 1)]:
                    for bias2d, tstore, rtma in [(1, 0, 0), (0, 1, 0), (0, 1, 1)]:
                        if epi == 5 or not rtma:
                            measure(shape, mkn, epi, form, tile, bias2d, tstore, rtma)
    out = os.environ.get("OUT", ".")
    with open(os.path.join(out, "epilogue.json"), "w") as f:
        json.dump(
            {"card": torch.cuda.get_device_name(), "triton": triton.__version__, "rows": rows}, f, indent=1
        )


if __name__ == "__main__":
    main()
