"""What the LM head's unaligned output rows cost: one persistent 128x256 GEMM (TMA loads, K-major
weight) storing into the contiguous [4096, 50257] logits, or into a buffer padded to 50264 columns
(16-byte aligned rows) by pointers or by TMA; cuBLAS into the padded buffer for reference."""
import torch
import triton
import triton.language as tl
from triton.tools.tensor_descriptor import TensorDescriptor

from tritium.codegen.tuning import bench_ms


@triton.jit
def lm_head(a_desc, b_desc, c_ptr, c_desc, M, N, K, stride_cm, NUM_SMS: tl.constexpr, BM: tl.constexpr,
            BN: tl.constexpr, BK: tl.constexpr, GROUP_M: tl.constexpr, TMA_STORE: tl.constexpr):
    num_pid_m = tl.cdiv(M, BM)
    num_pid_n = tl.cdiv(N, BN)
    tile_c = tl.program_id(0) - NUM_SMS
    for tile in tl.range(tl.program_id(0), num_pid_m * num_pid_n, NUM_SMS, flatten=True):
        group = tile // (GROUP_M * num_pid_n)
        first_m = group * GROUP_M
        gs = tl.minimum(num_pid_m - first_m, GROUP_M)
        pid_m = first_m + (tile % (GROUP_M * num_pid_n)) % gs
        pid_n = (tile % (GROUP_M * num_pid_n)) // gs
        acc = tl.zeros((BM, BN), dtype=tl.float32)
        for k in range(0, tl.cdiv(K, BK)):
            a = a_desc.load([pid_m * BM, k * BK])
            b = b_desc.load([pid_n * BN, k * BK])
            acc = tl.dot(a, tl.trans(b), acc)
        tile_c += NUM_SMS
        group = tile_c // (GROUP_M * num_pid_n)
        first_m = group * GROUP_M
        gs = tl.minimum(num_pid_m - first_m, GROUP_M)
        pm = first_m + (tile_c % (GROUP_M * num_pid_n)) % gs
        pn = (tile_c % (GROUP_M * num_pid_n)) // gs
        if TMA_STORE:
            c_desc.store([pm * BM, pn * BN], acc.to(tl.float16))
        else:
            rm = pm * BM + tl.arange(0, BM)
            rn = pn * BN + tl.arange(0, BN)
            tl.store(c_ptr + rm[:, None] * stride_cm + rn[None, :], acc.to(tl.float16),
                     mask=(rm[:, None] < M) & (rn[None, :] < N))


M, K, N, NP = 4096, 768, 50257, 50264
a = torch.randn(M, K, device="cuda", dtype=torch.float16)
w = torch.randn(N, K, device="cuda", dtype=torch.float16) / K**0.5  # the tied embedding, [vocab, hidden]
dense = torch.empty(M, N, device="cuda", dtype=torch.float16)
padded = torch.empty(M, NP, device="cuda", dtype=torch.float16)
want = (a.float() @ w.float().t())
sms = torch.cuda.get_device_properties(0).multi_processor_count
print(torch.cuda.get_device_name(), flush=True)
for bm, bn, stages, warps in ((128, 256, 3, 8), (128, 128, 3, 4), (128, 128, 4, 8)):
    a_d = TensorDescriptor.from_tensor(a, [bm, 64])
    b_d = TensorDescriptor.from_tensor(w, [bn, 64])
    c_d = TensorDescriptor(padded, [M, N], [NP, 1], [bm, bn])  # the padded buffer's [M, N] view
    runs = {
        "dense, pointer stores": (dense, N, 0),
        "padded, pointer stores": (padded, NP, 0),
        "padded, TMA store": (padded, NP, 1),
    }
    for name, (out, stride, tma) in runs.items():
        def f(out=out, stride=stride, tma=tma):
            lm_head[(sms,)](a_d, b_d, out, c_d, M, N, K, stride, NUM_SMS=sms, BM=bm, BN=bn, BK=64, GROUP_M=8,
                            TMA_STORE=tma, num_warps=warps, num_stages=stages)
        out.fill_(float("nan"))
        f()
        got = out[:, :N].float()
        err = float((got - want).abs().max() / want.abs().max())
        print(f"{bm}x{bn} s{stages} w{warps} {name}: {bench_ms(f):.4f} ms (error {err:.1e})", flush=True)
print(f"cuBLAS into the padded buffer: {bench_ms(lambda: torch.matmul(a, w.t(), out=padded[:, :N])):.4f} ms")
print(f"cuBLAS into the dense buffer: {bench_ms(lambda: torch.matmul(a, w.t(), out=dense)):.4f} ms")
