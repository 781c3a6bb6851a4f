"""tritium.passes: the pass infrastructure and the passes (each in its own file).

Importing this package registers every pass.
"""

from tritium.passes import (  # noqa: F401  (registration)
    canonicalize,
    conv_nd,
    cse,
    dce,
    fold_batch_norm,
    fold_constants,
    fuse_kernels,
    layout,
    lower_precision,
    lower_quant,
    merge_matmuls,
    plan_memory,
    recognize,
    recognize_attention,
    specialize_shapes,
    sum_matmuls,
)
from tritium.passes.base import (
    PASS_REGISTRY,
    Pass,
    PipelineError,
    parse_pipeline,
    pipeline_text,
    register_pass,
)
from tritium.passes.manager import PassError, PassManager, PipelineReport, run_pipeline
from tritium.passes.patterns import (
    GreedyRewriteDriver,
    NonConvergenceError,
    RewritePattern,
    apply_patterns_greedily,
    pattern,
)

__all__ = [
    "PASS_REGISTRY",
    "GreedyRewriteDriver",
    "NonConvergenceError",
    "Pass",
    "PassError",
    "PassManager",
    "PipelineError",
    "PipelineReport",
    "RewritePattern",
    "apply_patterns_greedily",
    "parse_pipeline",
    "pattern",
    "pipeline_text",
    "register_pass",
    "run_pipeline",
]
