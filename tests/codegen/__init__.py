"""Tests of the code generators (Triton kernels under the interpreter on the CPU)."""

from __future__ import annotations

from typing import Any


def fused_kernels(text: str, pipeline: str = "fuse-kernels,dce") -> list[Any]:
    """The ``kernel.fused`` ops of the IR ``text`` after ``pipeline``, in order."""
    import tritium.ir as ir
    from tritium.passes import PassManager

    module = ir.parse_ir(text)
    PassManager(pipeline).run(module)
    return [op for op in module.main.block.ops if op.name == "kernel.fused"]


def one_kernel(text: str) -> tuple[Any, Any, Any]:
    """The IR ``text`` fused (``fuse-kernels,dce``) into its one kernel: (module, the fused op, its
    generated kernel)."""
    import tritium.ir as ir
    from tritium.codegen import kernel_for
    from tritium.passes import PassManager

    module = ir.parse_ir(text)
    PassManager("fuse-kernels,dce").run(module)
    fused = next(op for op in module.main.block.ops if op.name == "kernel.fused")
    return module, fused, kernel_for(fused)


def gemm_gelu_residual(m: int, k: int, n: int) -> str:
    """IR of an f16 GEMM (m x k times k x n) with bias, GELU and a residual add: inputs a, b, c, r."""

    def ty(shape: tuple[int, ...]) -> str:
        return "tensor<" + "".join(f"{d}x" for d in shape) + "f16>"

    return f"""func.func @main(%a: {ty((m, k))}, %b: {ty((k, n))}, %c: {ty((n,))}, %r: {ty((m, n))}) -> {ty((m, n))} {{
  %y = nn.matmul %a, %b : ({ty((m, k))}, {ty((k, n))}) -> {ty((m, n))}
  %z = nn.add %y, %c : ({ty((m, n))}, {ty((n,))}) -> {ty((m, n))}
  %g = nn.gelu %z : {ty((m, n))}
  %o = nn.add %g, %r : ({ty((m, n))}, {ty((m, n))}) -> {ty((m, n))}
  func.return %o : {ty((m, n))}
}}"""
