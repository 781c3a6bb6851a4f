"""tritium.codegen: kernel IR -> Triton source, kernel templates, autotuning.

`kernel_for(fused)` picks the generator for a kernel.fused op, or returns None when no generated
kernel exists for it (the runtime then runs the op's reference on the host and says so).
"""

from __future__ import annotations

from typing import Any

from tritium.codegen.attention import AttentionKernel
from tritium.codegen.column import ColumnKernel
from tritium.codegen.conv import ConvKernel
from tritium.codegen.gemm import MatmulKernel
from tritium.codegen.gemm_chain import ChainKernel
from tritium.codegen.indexing import Unsupported
from tritium.codegen.movement import MovementKernel
from tritium.codegen.pointwise import PointwiseKernel
from tritium.codegen.pool import PoolKernel
from tritium.codegen.reduction import RowKernel
from tritium.passes.fusion_policy import GEMM_ANCHORS


def kernel_for(fused: Any) -> Any | None:
    """A generated kernel for ``fused`` (an object with ``source`` and ``__call__(inputs, outputs)``)."""
    try:
        if fused.kind == "elementwise":
            return PointwiseKernel(fused)
        if fused.kind == "reduction":
            names = {op.name for op in fused.ops}
            if names & {"nn.max_pool", "nn.average_pool"}:
                return PoolKernel(fused)
            try:
                return RowKernel(fused)
            except Unsupported:
                return ColumnKernel(fused)  # a reduction over axes followed by kept ones
        if fused.kind == "matmul":
            if sum(op.name in GEMM_ANCHORS for op in fused.ops) == 2:
                return ChainKernel(fused)  # a GEMM of another's output (fuse-kernels' chained product)
            return MatmulKernel(fused)
        if fused.kind == "conv":
            return ConvKernel(fused)
        if fused.kind == "data_movement":
            return MovementKernel(fused)
        if fused.kind == "attention":
            return AttentionKernel(fused)
    except (Unsupported, NotImplementedError):
        return None
    return None


__all__ = [
    "AttentionKernel",
    "ChainKernel",
    "ColumnKernel",
    "ConvKernel",
    "MatmulKernel",
    "MovementKernel",
    "PointwiseKernel",
    "PoolKernel",
    "RowKernel",
    "Unsupported",
    "kernel_for",
]
