"""TensorRT's Builder, BuilderConfig and optimization profiles.

    builder = tritium.Builder(logger)
    network = builder.create_network()
    ...                                                   # add layers, or parse ONNX into it
    config = builder.create_builder_config()
    config.set_flag(tritium.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    profile.set_shape("x", (1, 3, 224, 224), (8, 3, 224, 224), (32, 3, 224, 224))
    config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)   # bytes; None (errors logged) on failure

Kernels are tuned at each profile's ``opt`` shapes and run correctly for every shape inside its range.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

from tritium.ir.diagnostics import TritiumError
from tritium.logger import Logger
from tritium.network import INetworkDefinition


class NetworkDefinitionCreationFlag(enum.IntEnum):
    EXPLICIT_BATCH = 0  # always on, as in TensorRT 10
    STRONGLY_TYPED = 1


class BuilderFlag(enum.IntEnum):
    FP16 = 0
    BF16 = 1
    INT8 = 2
    FP8 = 3
    REFIT = 4
    OBEY_PRECISION_CONSTRAINTS = 5
    PREFER_PRECISION_CONSTRAINTS = 6
    DIRECT_IO = 7
    DEBUG = 8
    STRICT_TYPES = 9


class MemoryPoolType(enum.IntEnum):
    WORKSPACE = 0


class TacticSource(enum.IntEnum):
    """Where a kernel's implementation may come from (TensorRT's values). Tritium's own kernels are
    the generated Triton ones, always allowed (EDGE_MASK_CONVOLUTIONS and JIT_CONVOLUTIONS stand for
    them and are recorded); CUBLAS/CUBLAS_LT let cuBLAS compete for GEMMs and CUDNN for convolutions.
    All are on by default."""

    CUBLAS = 0
    CUBLAS_LT = 1
    CUDNN = 2
    EDGE_MASK_CONVOLUTIONS = 3
    JIT_CONVOLUTIONS = 4


def library_sources(mask: int) -> frozenset[str]:
    """The tuner's library sources of a tactic-source bit mask."""
    on = {t for t in TacticSource if mask >> int(t) & 1}
    sources = {"cublas": {TacticSource.CUBLAS, TacticSource.CUBLAS_LT}, "cudnn": {TacticSource.CUDNN}}
    return frozenset(name for name, bits in sources.items() if on & bits)


class ProfilingVerbosity(enum.IntEnum):
    LAYER_NAMES_ONLY = 0
    NONE = 1
    DETAILED = 2


class BuildError(TritiumError):
    """A network that cannot be built with this configuration."""


class IOptimizationProfile:
    """Per dynamic input: the min, opt and max shapes an engine must run."""

    def __init__(self) -> None:
        self.shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]] = {}

    def set_shape(self, input: str, min: Sequence[int], opt: Sequence[int], max: Sequence[int]) -> None:
        lo, mid, hi = (tuple(int(d) for d in s) for s in (min, opt, max))
        if not len(lo) == len(mid) == len(hi):
            raise BuildError(f"profile shapes of '{input}' have different ranks: {lo}, {mid}, {hi}")
        if not all(a <= b <= c for a, b, c in zip(lo, mid, hi)) or any(a < 0 for a in lo):
            raise BuildError(
                f"profile shapes of '{input}' must satisfy 0 <= min <= opt <= max per dimension: {lo}, {mid}, {hi}"
            )
        self.shapes[input] = (lo, mid, hi)

    def get_shape(self, input: str) -> list[tuple[int, ...]]:
        return list(self.shapes[input])

    def __bool__(self) -> bool:
        return bool(self.shapes)


class ITimingCache:
    """A timing cache the builder reads and extends (serialize it to reuse it in later builds)."""

    def __init__(self, data: bytes | None = None) -> None:
        from tritium.codegen.tuning import TimingCache

        self.cache = TimingCache.deserialize(data) if data else TimingCache()

    def serialize(self) -> bytes:
        return self.cache.serialize()

    def combine(self, other: ITimingCache, ignore_mismatch: bool = False) -> bool:
        self.cache.merge(other.cache)
        return True

    def reset(self) -> bool:
        from tritium.codegen.tuning import TimingCache

        self.cache = TimingCache()
        return True


class IAlgorithmSelector:
    """Override ``select_algorithms`` to restrict each kernel's candidate configs (return indices into
    ``choices``), and ``report_algorithms`` to see the final choices."""

    def select_algorithms(self, context: Any, choices: list[Any]) -> list[int]:
        return list(range(len(choices)))

    def report_algorithms(self, contexts: list[Any], choices: list[Any]) -> None:
        pass


class IBuilderConfig:
    def __init__(self) -> None:
        self.flags = 0
        self.builder_optimization_level = 3
        self.profiling_verbosity = ProfilingVerbosity.LAYER_NAMES_ONLY
        self.algorithm_selector: IAlgorithmSelector | None = None
        self.profiles: list[IOptimizationProfile] = []
        self.pool_limits: dict[MemoryPoolType, int] = {}
        self.timing_cache: ITimingCache | None = None
        self.tuning_budget_s: float | None = None
        self.device: str | None = None
        self.tactic_sources = sum(1 << int(t) for t in TacticSource)

    def set_tactic_sources(self, tactic_sources: int) -> bool:
        """A bit mask of TacticSource (``1 << int(TacticSource.CUDNN) | ...``); False (and no change)
        for bits that name no source."""
        if tactic_sources < 0 or tactic_sources >> len(TacticSource):
            return False
        self.tactic_sources = int(tactic_sources)
        return True

    def get_tactic_sources(self) -> int:
        return self.tactic_sources

    def set_flag(self, flag: BuilderFlag) -> None:
        self.flags |= 1 << int(flag)

    def clear_flag(self, flag: BuilderFlag) -> None:
        self.flags &= ~(1 << int(flag))

    def get_flag(self, flag: BuilderFlag) -> bool:
        return bool(self.flags >> int(flag) & 1)

    def set_memory_pool_limit(self, pool: MemoryPoolType, size: int) -> None:
        """Recorded and honoured: every kernel Tritium generates needs no workspace, so no tactic is
        ever excluded by the WORKSPACE limit."""
        self.pool_limits[MemoryPoolType(pool)] = int(size)

    def get_memory_pool_limit(self, pool: MemoryPoolType) -> int:
        return self.pool_limits.get(MemoryPoolType(pool), 1 << 62)

    def add_optimization_profile(self, profile: IOptimizationProfile) -> int:
        self.profiles.append(profile)
        return len(self.profiles) - 1

    @property
    def num_optimization_profiles(self) -> int:
        return len(self.profiles)

    def create_timing_cache(self, data: bytes = b"") -> ITimingCache:
        return ITimingCache(data or None)

    def set_timing_cache(self, cache: ITimingCache, ignore_mismatch: bool = False) -> bool:
        self.timing_cache = cache
        return True

    def get_timing_cache(self) -> ITimingCache | None:
        return self.timing_cache


class Builder:
    def __init__(self, logger: Logger) -> None:
        self.logger = logger

    def create_network(self, flags: int = 0) -> INetworkDefinition:
        return INetworkDefinition(flags)

    def create_builder_config(self) -> IBuilderConfig:
        return IBuilderConfig()

    def create_optimization_profile(self) -> IOptimizationProfile:
        return IOptimizationProfile()

    @property
    def platform_has_fast_fp16(self) -> bool:
        return True

    def build_serialized_network(self, network: INetworkDefinition, config: IBuilderConfig) -> bytes | None:
        """The plan (engine bytes); None when the build fails, with the reason logged as an error."""
        try:
            return self.build_engine_with_config(network, config).serialize()
        except TritiumError as e:
            self.logger.error(f"build failed: {e}")
            return None

    def build_engine_with_config(self, network: INetworkDefinition, config: IBuilderConfig) -> Any:
        """An Engine, without the serialize/deserialize round trip (raises on failure)."""
        from tritium.api import build_engine
        from tritium.runtime.engine import clone_module

        if network.num_outputs == 0:
            raise BuildError(f"network '{network.name}' has no outputs: call mark_output")
        from tritium.ir.verifier import verify

        module = clone_module(network.module)
        try:
            verify(module)
        except TritiumError as e:
            raise BuildError(f"network '{network.name}' is not valid: {e}") from None
        profiles = _profile_table(network, config)
        fp16, bf16 = config.get_flag(BuilderFlag.FP16), config.get_flag(BuilderFlag.BF16)
        level = int(config.builder_optimization_level)
        if not 0 <= level <= 5:
            raise BuildError(f"builder_optimization_level must be 0..5, got {level}")
        for flag in (BuilderFlag.INT8, BuilderFlag.FP8):
            if config.get_flag(flag) and not any(op.name.startswith("quant.") for op in module.walk()):
                self.logger.warning(
                    f"{flag.name} is set but the network has no quantize/dequantize layers: Tritium quantizes "
                    "explicitly (add_quantize / ONNX QuantizeLinear), so the network builds unquantized"
                )
        self.logger.info(
            f"building '{network.name}': {network.num_layers} layers, level {level}"
            + (", FP16" if fp16 else ", BF16" if bf16 else "")
        )
        timing = config.timing_cache.cache if config.timing_cache is not None else None
        engine = build_engine(
            module,
            device=config.device,
            opt_level=2 if level >= 1 else 1,  # graph passes are cheap: the level buys tuning depth
            precision="f16" if fp16 else "bf16" if bf16 else None,
            tune_shapes=[{n: mom[1] for n, mom in p.items()} for p in profiles] or None,
            cache=timing,
            tuning_budget_s=config.tuning_budget_s,
            tuning_level=level,
            selector=config.algorithm_selector,
            tactic_sources=library_sources(config.tactic_sources),
            keep_source=config.get_flag(BuilderFlag.REFIT),
            manifest={
                "profiles": [{n: [list(s) for s in mom] for n, mom in p.items()} for p in profiles],
                "profiling_verbosity": ProfilingVerbosity(config.profiling_verbosity).name,
                "builder_flags": [f.name for f in BuilderFlag if config.get_flag(f)],
                "tactic_sources": [t.name for t in TacticSource if config.tactic_sources >> int(t) & 1],
                "memory_pool_limits": {p.name: v for p, v in config.pool_limits.items()},
            },
        )
        return engine


def _profile_table(network: INetworkDefinition, config: IBuilderConfig) -> list[dict[str, tuple]]:
    """Each profile as input -> (min, opt, max), complete for the dynamic inputs, checked against the
    inputs' declared dimensions."""
    dynamic = [t for t in network.inputs if -1 in t.shape]
    if dynamic and not config.profiles:
        raise BuildError(
            f"inputs {[t.name for t in dynamic]} have dynamic dimensions: add an optimization profile "
            "(builder.create_optimization_profile, profile.set_shape, config.add_optimization_profile)"
        )
    names = {t.name: t for t in network.inputs}
    table = []
    for i, p in enumerate(config.profiles):
        unknown = sorted(set(p.shapes) - set(names))
        if unknown:
            raise BuildError(
                f"optimization profile {i} names {unknown}, which are not network inputs {sorted(names)}"
            )
        missing = [t.name for t in dynamic if t.name not in p.shapes]
        if missing:
            raise BuildError(f"optimization profile {i} gives no shapes for the dynamic inputs {missing}")
        entry = {}
        for t in network.inputs:
            if t.name not in p.shapes:
                entry[t.name] = (t.shape, t.shape, t.shape)
                continue
            mom = p.shapes[t.name]
            for shape in mom:
                if len(shape) != len(t.shape) or any(d != -1 and d != s for d, s in zip(t.shape, shape)):
                    raise BuildError(
                        f"optimization profile {i}: shape {list(shape)} of '{t.name}' does not fit its declared shape {list(t.shape)}"
                    )
            entry[t.name] = mom
        table.append(entry)
    return table
