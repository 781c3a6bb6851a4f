"""The one-liner door: ``tritium.compile(model)`` returns an engine you call with a dict of inputs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tritium.ir.diagnostics import TritiumError


def load_any(model: Any, name: str | None = None) -> Any:
    """A Module from an ONNX path/bytes/ModelProto, a .tir module file, or a Module."""
    from tritium.ir.dialects.builtin import ModuleOp

    if isinstance(model, ModuleOp):
        return model
    if isinstance(model, str | os.PathLike) and Path(model).suffix == ".tir":
        from tritium.ir.modulefile import load_module

        return load_module(model)
    from tritium.frontends.onnx import import_onnx

    return import_onnx(model, name)


def compile(
    model: Any,
    *,
    device: str | None = None,
    backend: str = "triton",
    name: str | None = None,
    opt_level: int = 2,
    pipeline: str | None = None,
    shapes: dict[str, tuple[int, ...]] | None = None,
    timing_cache: str | None = None,
    tuning_budget_s: float | None = None,
    fp16: bool = False,
    bf16: bool = False,
    tuning_level: int | None = None,
) -> Any:
    """Compile ``model`` (ONNX path, bytes or ModelProto; a .tir file; or a Module) into an engine.

    ``backend="triton"`` optimizes the graph into fused kernels and generates Triton code for them;
    it runs on the GPU when there is one (``device="cuda"``) and under Triton's interpreter on the CPU
    otherwise. ``backend="reference"`` runs the numpy reference semantics, the ground truth.
    ``pipeline`` overrides the default pass pipeline of ``opt_level``; ``fp16``/``bf16`` lower the
    float32 computation. On a GPU, kernels are tuned at ``shapes`` (default: the model's static input
    shapes), reading and updating the ``timing_cache`` file, within ``tuning_budget_s`` seconds.
    """
    module = load_any(model, name)
    if backend == "reference":
        if device not in (None, "cpu"):
            raise TritiumError(f"the reference backend runs on the CPU; device '{device}' is not supported")
        from tritium.runtime.reference import ReferenceEngine

        return ReferenceEngine(module)
    if backend != "triton":
        raise TritiumError(f"unknown backend '{backend}' (expected 'triton' or 'reference')")
    from tritium.codegen.triton_env import use_interpreter
    from tritium.codegen.tuning import TimingCache, Tuner
    from tritium.passes import PassManager
    from tritium.passes.pipelines import graph_pipeline, kernel_pipeline
    from tritium.runtime.engine import Engine

    precision = "f16" if fp16 else "bf16" if bf16 else None
    graph = pipeline if pipeline is not None else graph_pipeline(opt_level, precision)
    if graph:
        PassManager(graph).run(module)
    flags = {"opt_level": opt_level, "pipeline": graph, "fp16": fp16, "bf16": bf16}
    engine = Engine(
        module,
        device,
        manifest={"build": build_environment(device, flags), "kernel_pipeline": kernel_pipeline(opt_level)},
    )
    tune_shapes = shapes or engine._static_input_shapes()
    if tune_shapes is not None and not use_interpreter() and engine.device.type == "cuda":
        cache = TimingCache.load(timing_cache) if timing_cache else TimingCache()
        tuner = Tuner(
            cache, level=opt_level if tuning_level is None else tuning_level, budget_s=tuning_budget_s
        )
        engine.tune(tune_shapes, tuner)
        engine.manifest["build"]["tuning"] = {"timed": tuner.timed, "cache_hits": cache.hits}
        if timing_cache:
            cache.save(timing_cache)
    return engine


def build_environment(device: str | None, flags: dict[str, Any]) -> dict[str, Any]:
    """What a plan records about where it was built (GPU, versions, flags)."""
    import platform

    import tritium

    env: dict[str, Any] = {
        "tritium": tritium.__version__,
        "python": platform.python_version(),
        "flags": flags,
    }
    try:
        import torch

        env["torch"] = torch.__version__
        if torch.cuda.is_available() and device != "cpu":
            env["gpu"] = torch.cuda.get_device_name()
            env["compute_capability"] = list(torch.cuda.get_device_capability())
        else:
            env["gpu"] = None
    except ImportError:
        env["torch"] = None
    try:
        from tritium.codegen.triton_env import triton_version

        env["triton"] = triton_version()
    except ImportError:
        env["triton"] = None
    return env


def load(path: str, device: str | None = None) -> Any:
    """An Engine from a plan file written by ``engine.save`` (``tritium.load``)."""
    from tritium.runtime.plan import load_plan_file

    module, manifest, _ = load_plan_file(path)
    return _engine_from_plan(module, manifest, device, str(path))


def _engine_from_plan(module: Any, manifest: dict[str, Any], device: str | None, where: str) -> Any:
    import logging

    from tritium.runtime.engine import Engine

    engine = Engine(module, device, manifest)
    built = (manifest.get("build") or {}).get("gpu")
    here = build_environment(str(engine.device), {}).get("gpu")
    if built != here:
        logging.getLogger("tritium").warning(
            "%s was built on %s and runs on %s: kernels are regenerated and run untuned",
            where,
            built or "the CPU",
            here or "the CPU",
        )
    return engine
