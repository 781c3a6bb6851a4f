"""The default pipeline of each optimization level: one readable list each.

Level 0 does only what the Triton backend needs (kernel IR); higher levels add the optimizations.
"""

from __future__ import annotations

PIPELINES: dict[int, list[str]] = {
    0: ["fuse-kernels"],
    1: ["canonicalize", "cse", "fold-constants", "dce", "fuse-kernels", "dce"],
    2: ["canonicalize", "cse", "fold-constants", "canonicalize", "cse", "dce", "fuse-kernels", "dce"],
}


def pipeline_for(level: int, precision: str | None = None) -> str:
    """The pipeline text of ``level`` (levels past the highest defined use the highest); with
    ``precision`` (f16 or bf16) the float32 computation is lowered before fusion."""
    if level < 0:
        raise ValueError(f"optimization level must be >= 0, got {level}")
    passes = list(PIPELINES[min(level, max(PIPELINES))])
    if precision is not None:
        passes.insert(passes.index("fuse-kernels"), f"lower-precision{{dtype={precision}}}")
    return ",".join(passes)
