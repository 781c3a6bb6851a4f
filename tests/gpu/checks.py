"""Checks the GPU tests of whole blocks share: an engine against its torch model in FP32."""

from __future__ import annotations

from typing import Any

import torch


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got.float() - want).norm() / want.norm())


def matches_through_graph_replays(
    engine: Any, model: torch.nn.Module, shape: tuple[int, ...], tol: float = 2e-3
) -> None:
    """Three calls of one context on fresh inputs (the later ones replay a CUDA graph), each within
    ``tol`` (relative, the whole output) of the model."""
    ctx = engine.create_execution_context()
    with torch.no_grad():
        for _ in range(3):
            x = torch.randn(shape, device="cuda")
            assert relative_error(ctx.run({"x": x})["y"], model(x)) < tol


def every_config_matches(
    engine: Any, model: torch.nn.Module, shape: tuple[int, ...], steps: list[Any], tol: float = 2e-3
) -> None:
    """Each config of ``steps`` (program steps and the configs to try, as pairs) in turn, on an eager
    context: a captured CUDA graph would replay the configs it was captured with."""
    eager = engine.create_execution_context()
    eager.use_cuda_graph = False
    x = torch.randn(shape, device="cuda")
    with torch.no_grad():
        want = model(x)
        for step, configs in steps:
            chosen = step.config
            for cfg in configs:
                step.config = cfg
                assert relative_error(eager.run({"x": x})["y"], want) < tol, cfg
            step.config = chosen
