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
    tactic_sources: tuple[str, ...] = ("cublas", "cudnn"),
    narrow_io: bool = False,
) -> Any:
    """Compile ``model`` (ONNX path, bytes or ModelProto; a .tir file; or a Module) into an engine.

    ``backend="triton"`` optimizes the graph into fused kernels and generates Triton code for them;
    it runs on the GPU when there is one (``device="cuda"``) and under Triton's interpreter on the CPU
    otherwise. ``backend="reference"`` runs the numpy reference semantics, the ground truth.
    ``pipeline`` overrides the default pass pipeline of ``opt_level``; ``fp16``/``bf16`` lower the
    float32 computation. On a GPU, kernels are tuned at ``shapes`` (default: the model's static input
    shapes), reading and updating the ``timing_cache`` file, within ``tuning_budget_s`` seconds.
    ``tactic_sources``: the libraries whose calls compete with the generated kernels in tuning
    ("cublas" for GEMMs, "cudnn" for convolutions, both by default; ``()`` for generated kernels only).
    ``narrow_io`` (with ``fp16`` or ``bf16``): the float32 inputs and outputs take that type too, as
    TensorRT's FP16 I/O formats do; the caller passes and receives half-precision tensors, and no cast
    kernel runs at either end.
    """
    unknown = sorted(set(tactic_sources) - {"cublas", "cudnn"})
    if unknown or isinstance(tactic_sources, str):
        raise TritiumError(f"tactic_sources {tactic_sources!r}: expected a tuple of 'cublas' and/or 'cudnn'")
    module = load_any(model, name)
    if backend == "reference":
        if device not in (None, "cpu"):
            raise TritiumError(f"the reference backend runs on the CPU; device '{device}' is not supported")
        from tritium.runtime.reference import ReferenceEngine

        return ReferenceEngine(module)
    if backend != "triton":
        raise TritiumError(f"unknown backend '{backend}' (expected 'triton' or 'reference')")
    from tritium.codegen.tuning import TimingCache

    cache = TimingCache.load(timing_cache) if timing_cache else None
    engine = build_engine(
        module,
        device=device,
        opt_level=opt_level,
        pipeline=pipeline,
        precision="f16" if fp16 else "bf16" if bf16 else None,
        tune_shapes=[shapes] if shapes else None,
        cache=cache,
        tuning_budget_s=tuning_budget_s,
        tuning_level=tuning_level,
        tactic_sources=frozenset(tactic_sources),
        narrow_io=narrow_io,
    )
    if timing_cache and cache is not None:
        cache.save(timing_cache)
    return engine


def build_engine(
    module: Any,
    *,
    device: str | None = None,
    opt_level: int = 2,
    pipeline: str | None = None,
    precision: str | None = None,
    tune_shapes: list[dict[str, tuple[int, ...]]] | None = None,
    cache: Any = None,
    tuning_budget_s: float | None = None,
    tuning_level: int | None = None,
    selector: Any = None,
    tactic_sources: frozenset[str] = frozenset({"cublas", "cudnn"}),
    manifest: dict[str, Any] | None = None,
    keep_source: bool = False,
    narrow_io: bool = False,
) -> Any:
    """The build both doors share: graph pipeline, engine, tuning at ``tune_shapes`` (default: the
    static input shapes) on the GPU. ``keep_source`` keeps the unoptimized module for refitting."""
    from tritium.codegen.triton_env import use_interpreter
    from tritium.codegen.tuning import TimingCache, Tuner
    from tritium.passes import PassManager
    from tritium.passes.pipelines import graph_pipeline, kernel_pipeline
    from tritium.runtime.engine import Engine, clone_module

    source = clone_module(module) if keep_source else None
    if narrow_io and precision is None:
        raise TritiumError(
            "narrow_io=True needs fp16=True or bf16=True: it narrows the inputs and outputs to that type"
        )
    if narrow_io and pipeline is not None:
        raise TritiumError(
            "narrow_io=True applies to the default pipeline; in your own, use lower-precision{io=true}"
        )
    graph = pipeline if pipeline is not None else graph_pipeline(opt_level, precision, narrow_io)
    if graph:
        PassManager(graph).run(module)
    flags = {
        "opt_level": opt_level,
        "pipeline": graph,
        "fp16": precision == "f16",
        "bf16": precision == "bf16",
    }
    engine = Engine(
        module,
        device,
        manifest={
            "build": build_environment(device, flags),
            "kernel_pipeline": kernel_pipeline(opt_level),
            **(manifest or {}),
        },
        source=source,
    )
    static = engine._static_input_shapes()
    targets = tune_shapes or ([static] if static is not None else [])
    on_gpu = not use_interpreter() and engine.device.type == "cuda"
    if targets and (on_gpu or selector is not None):
        cache = cache if cache is not None else TimingCache()
        level = opt_level if tuning_level is None else tuning_level
        tuner = Tuner(
            cache,
            level=level,
            budget_s=tuning_budget_s,
            selector=selector,
            timing=on_gpu,
            library=tactic_sources,
        )
        for shapes in targets:
            engine.tune(shapes, tuner)
        if selector is not None and hasattr(selector, "report_algorithms"):
            selector.report_algorithms(tuner.contexts, tuner.chosen)
        engine.manifest["build"]["tuning"] = {"timed": tuner.timed, "cache_hits": cache.hits}
    return engine


KERNEL_SWITCHES = (
    "TRITIUM_CONSTEXPR_SIZES",
    "TRITIUM_DEPTHWISE_GEMM",
    "TRITIUM_GEMM_CHAIN",
    "TRITIUM_NORM_PROLOGUE",
    "TRITIUM_PAD_OUTPUTS",
)
"""Environment switches read wherever kernels are formed, at build and again when a plan loads: a
plan records those in effect at its build, and loading it under other values warns (its kernels
then differ from the tuned ones, which run untuned)."""


def kernel_switches() -> dict[str, str]:
    """Each switch that is set, and always the families whose sizes are constants, resolved ("none"
    where none are; unset means the default ones): so a plan built with the default matches one
    loaded with that default spelt out, and plans from before a default changed do not match."""
    import os

    from tritium.codegen.triton_env import CONSTEXPR_FAMILIES, constexpr_sizes

    constant = ",".join(f for f in CONSTEXPR_FAMILIES if constexpr_sizes(f)) or "none"
    switches = {
        k: os.environ[k] for k in KERNEL_SWITCHES if k != "TRITIUM_CONSTEXPR_SIZES" and os.environ.get(k)
    }
    return {"TRITIUM_CONSTEXPR_SIZES": constant, **switches}


def build_environment(device: str | None, flags: dict[str, Any]) -> dict[str, Any]:
    """What a plan records about where it was built (GPU, versions, flags, kernel switches)."""
    import platform

    import tritium

    env: dict[str, Any] = {
        "tritium": tritium.__version__,
        "python": platform.python_version(),
        "flags": flags,
        "switches": kernel_switches(),
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


def load(path: str, device: str | None = None, trust_binaries: bool = False) -> Any:
    """An Engine from a plan file written by ``engine.save`` (``tritium.load``). With
    ``trust_binaries`` the plan's compiled kernels are used (on the GPU and Triton that built them)
    instead of compiling the kernels regenerated from its IR: only for plans you trust."""
    from tritium.runtime.plan import load_plan_file

    if device is None or str(device).startswith("cuda"):
        from tritium.codegen.triton_env import warm_up

        warm_up()  # Triton's own setup overlaps reading the plan
    return _engine_from_plan(load_plan_file(path), device, str(path), trust_binaries)


def _engine_from_plan(plan: Any, device: str | None, where: str, trust_binaries: bool = False) -> Any:
    import logging

    from tritium.runtime.engine import Engine

    engine = Engine(plan.module, device, plan.manifest, source=plan.source)
    built = (plan.manifest.get("build") or {}).get("gpu")
    here_env = build_environment(str(engine.device), {})
    here = here_env.get("gpu")
    same_triton = (plan.manifest.get("build") or {}).get("triton") == here_env.get("triton")
    if trust_binaries and built == here and here is not None and same_triton:
        from tritium.codegen.binaries import prebuild_launchers, restore

        launchers = plan.manifest.get("launchers")
        prebuild_launchers(launchers if isinstance(launchers, list) else [])  # Triton's own C, from data
        if plan.binaries:
            restore(plan.binaries)  # the regenerated kernels find their compiled code in Triton's cache
    if built != here:
        logging.getLogger("tritium").warning(
            "%s was built on %s and runs on %s: kernels are regenerated and run untuned",
            where,
            built or "the CPU",
            here or "the CPU",
        )
    switches = (plan.manifest.get("build") or {}).get("switches") or {}
    if switches != here_env["switches"]:
        logging.getLogger("tritium").warning(
            "%s was built with kernel switches %s and loads with %s: the kernels they form differ "
            "from the tuned ones and run untuned (set the same switches to use its tuning)",
            where,
            switches or "(none recorded)",
            here_env["switches"],
        )
    return engine
