import torch, tritium.ir as ir
from tritium.codegen import kernel_for
from tritium.passes import PassManager


def ty(s, dt):
    return "tensor<" + "".join(f"{d}x" for d in s) + dt + ">"


for m, k, n in [(333, 256, 208), (1024, 4096, 1024)]:
    o = ty((m, n), "f32")
    text = f"""func.func @main(%a: {ty((m, k), "f8E4M3FN")}, %b: {ty((k, n), "f8E4M3FN")}) -> {o} {{
  %p = nn.matmul_float8 %a, %b : ({ty((m, k), "f8E4M3FN")}, {ty((k, n), "f8E4M3FN")}) -> {o}
  func.return %p : {o}
}}"""
    mod = ir.parse_ir(text)
    PassManager("fuse-kernels,dce").run(mod)
    kern = kernel_for(next(op for op in mod.main.block.ops if op.name == "kernel.fused"))
    a = (torch.randn(m, k, device="cuda") * 8).to(torch.float8_e4m3fn)
    b = (torch.randn(n, k, device="cuda") * 8).to(torch.float8_e4m3fn).t()
    want = a.double() @ b.double()

    def err(x):
        return float((x.double() - want).norm() / want.norm()), float(
            (x.double() - want).abs().max() / want.abs().max()
        )

    one = torch.ones((), device="cuda")
    print(
        m,
        k,
        n,
        "scaled_mm precise",
        err(torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.float32)),
    )
    print(
        m,
        k,
        n,
        "scaled_mm fast",
        err(torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.float32, use_fast_accum=True)),
    )
    print(m, k, n, "fp32 matmul", err(a.float() @ b.float()))
    for form in ({}, {"TMA": 1}, {"TMA": 1, "PERSISTENT": 1}):
        for bk in (64, 128):
            cfg = {
                "BLOCK_M": 128,
                "BLOCK_N": 128,
                "BLOCK_K": bk,
                "GROUP_M": 8,
                "num_warps": 8,
                "num_stages": 3,
                **form,
            }
            got = torch.empty(m, n, device="cuda")
            kern([a, b], [got], cfg)
            print(m, k, n, form, bk, err(got))
