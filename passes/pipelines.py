"""The default pipelines: one readable list per optimization level.

A build runs the *graph* pipeline once (nn-dialect optimizations, precision), then, for every set of
input shapes it runs at, specializes the shapes, folds what became constant, and runs the *kernel*
pipeline (fusion into kernel IR). ``tritium opt`` users get both with `pipeline_for`.
"""

from __future__ import annotations

GRAPH: dict[int, list[str]] = {
    0: ["lower-quant"],
    1: ["lower-quant", "lower-conv-nd", "canonicalize", "cse", "fold-constants", "dce"],
    2: [
        "lower-quant",
        "canonicalize",
        "cse",
        "fold-constants",
        "fold-batch-norm",
        "lower-conv-nd",
        "fold-constants",
        "recognize-composites",
        "recognize-attention",
        "merge-parallel-matmuls",
        "convert-layout",
        "canonicalize",
        "merge-summed-matmuls",
        "cse",
        "dce",
    ],
}
SPECIALIZED = ["canonicalize", "propagate-shapes", "canonicalize", "cse", "dce"]
"""Run after shapes are fixed: shape computations fold into constants."""
KERNEL: dict[int, list[str]] = {0: ["fuse-kernels"], 1: ["fuse-kernels", "dce"], 2: ["fuse-kernels", "dce"]}


def _level(level: int, table: dict[int, list[str]]) -> list[str]:
    if level < 0:
        raise ValueError(f"optimization level must be >= 0, got {level}")
    return list(table[min(level, max(table))])


def graph_pipeline(level: int, precision: str | None = None, narrow_io: bool = False) -> str:
    """The graph passes of ``level``; with ``precision`` (f16 or bf16) the float32 computation is
    lowered, with ``narrow_io`` its float32 inputs and outputs too."""
    passes = _level(level, GRAPH)
    if precision is not None:
        passes.append(f"lower-precision{{dtype={precision}{' io=true' if narrow_io else ''}}}")
    return ",".join(passes)


def kernel_pipeline(level: int) -> str:
    return ",".join(SPECIALIZED + _level(level, KERNEL))


def pipeline_for(level: int, precision: str | None = None) -> str:
    """Graph and kernel pipelines together (what ``tritium opt`` runs for a level)."""
    return ",".join(p for p in (graph_pipeline(level, precision), kernel_pipeline(level)) if p)
