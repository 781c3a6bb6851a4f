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
