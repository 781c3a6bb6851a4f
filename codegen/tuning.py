"""Autotuning and the timing cache (TensorRT's ITimingCache).

Each template offers a config space (tile sizes, warps, pipeline stages), pruned by shared memory and
by the problem's shape. Candidates run on the target GPU and are timed with CUDA events (Triton's
``do_bench``, median). The winner is remembered in a timing cache keyed by GPU name and compute
capability, Triton version, the kernel's source hash and the tensor shapes; a build whose cache
already holds a key runs no timing for it. Ties break by the candidate order, so the same cache
always gives the same choices. Without a GPU (Triton's interpreter) nothing is timed: the template's
heuristic config is used.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tritium.codegen.triton_env import kernel_identity, source_hash, triton_version

CACHE_VERSION = 1


def device_key() -> str:
    """'NVIDIA H100 80GB HBM3/sm90' (or 'cpu-interpreter')."""
    try:
        import torch

        if torch.cuda.is_available():
            major, minor = torch.cuda.get_device_capability()
            return f"{torch.cuda.get_device_name()}/sm{major}{minor}"
    except ImportError:
        pass
    return "cpu-interpreter"


@dataclass
class TimingCache:
    """Tuning results: key -> {"config": {...}, "ms": median time}."""

    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    hits: int = 0
    misses: int = 0

    @staticmethod
    def key(kernel: str, shapes: Iterable[tuple[int, ...]], device: str | None = None) -> str:
        """``kernel``: its identity (``kernel_identity``) or source."""
        dims = ";".join("x".join(map(str, s)) for s in shapes)
        return f"{device or device_key()}|triton-{triton_version()}|{source_hash(kernel)}|{dims}"

    def lookup(self, key: str) -> dict[str, int] | None:
        e = self.entries.get(key)
        if e is None:
            self.misses += 1
            return None
        self.hits += 1
        return dict(e["config"])

    def record(self, key: str, config: dict[str, int], ms: float) -> None:
        self.entries[key] = {"config": dict(config), "ms": float(ms)}

    def merge(self, other: TimingCache) -> None:
        """Combine: for a key both hold, the faster measurement wins."""
        for k, e in other.entries.items():
            mine = self.entries.get(k)
            if mine is None or e["ms"] < mine["ms"]:
                self.entries[k] = dict(e)

    def serialize(self) -> bytes:
        return json.dumps(
            {"version": CACHE_VERSION, "entries": self.entries}, indent=1, sort_keys=True
        ).encode()

    @staticmethod
    def deserialize(data: bytes) -> TimingCache:
        try:
            obj = json.loads(data)
        except ValueError as e:
            raise ValueError(f"timing cache is not valid JSON: {e}") from None
        if (
            not isinstance(obj, dict)
            or obj.get("version") != CACHE_VERSION
            or not isinstance(obj.get("entries"), dict)
        ):
            raise ValueError(
                f"timing cache has an unsupported format (this Tritium reads version {CACHE_VERSION})"
            )
        return TimingCache(dict(obj["entries"]))

    def save(self, path: str | os.PathLike) -> None:
        tmp = Path(str(path) + ".tmp")
        tmp.write_bytes(self.serialize())
        os.replace(tmp, path)

    @staticmethod
    def load(path: str | os.PathLike) -> TimingCache:
        p = Path(path)
        return TimingCache.deserialize(p.read_bytes()) if p.exists() else TimingCache()


SMEM_BYTES = 200 * 1024
"""Shared memory a kernel may use (H100/H200: 227 KB per block; leave room for the compiler)."""


SMS = 132
"""Streaming multiprocessors of the H100/H200 this is tuned for (orders candidates, never limits them)."""


ACCUMULATORS_PER_THREAD = 128
"""The most 32-bit accumulators a GEMM tile may hold per thread (half of the 255 registers a thread
can have; the operands' fragments, addresses and the epilogue need the rest)."""


def matmul_space(m: int, n: int, k: int, itemsize: int, level: int) -> list[dict[str, int]]:
    """GEMM/conv tile configs that fit shared memory and the problem, most promising first."""
    out = []
    # Interleaved so that the first few candidates already span large and small tiles: large ones for
    # big problems, small ones to fill 132 SMs when M x N is small.
    tiles = [
        (128, 128, 64),
        (128, 256, 64),
        (64, 128, 64),
        (128, 64, 64),
        (64, 64, 64),
        (256, 128, 64),
        (64, 256, 64),
        (128, 128, 32),
        (64, 64, 32),
        (32, 64, 64),
        (64, 32, 64),
        (32, 32, 64),
        (16, 64, 64),
        (16, 32, 128),
        (32, 32, 32),
        (16, 32, 32),
        (32, 16, 32),
        (16, 16, 32),
    ]
    if itemsize == 1:  # int8: the same bytes per K step as f16 tiles take twice the K (the MMA's K
        # is 32); the f16 tiles themselves follow, for short reductions (a conv tap's 64 channels)
        doubled = [(bm, bn, 2 * bk) for bm, bn, bk in tiles]
        tiles = doubled + [t for t in tiles if t not in doubled]
    for bm, bn, bk in tiles:
        # a tile may overhang M by up to half; N and K only up to the next power of two (a wider
        # tile would spend half its tensor-core work on masked zeros)
        if bm > max(16, 2 * _pow2(m)) or bn > max(16, _pow2(n)) or bk > max(32, _pow2(k)):
            continue
        if itemsize >= 4 and bm * bn > 128 * 128:
            continue  # float32 (IEEE dot, operands in registers): these tiles spill and compile for minutes
        for stages in (3, 4, 2):
            if (bm * bk + bk * bn) * itemsize * stages > SMEM_BYTES:
                continue
            # 128 x 128 tiles of 16-bit operands: one warpgroup first (on an H200 4 warps beat 8 on
            # BERT's GEMMs by 1-3%); larger tiles, float32's, and 8-bit ones need two (int8 GEMMs carry
            # requantizing epilogues: at 4 warps ResNet-50's spilled, 255 registers and a stack)
            one_first = bm * bn == 128 * 128 and itemsize == 2
            for warps in (4, 8) if one_first else (8, 4) if bm * bn >= 128 * 128 else (4,):
                if bm * bn > ACCUMULATORS_PER_THREAD * 32 * warps:
                    continue  # (128 x 256 on 4 warps: 255 registers and 1.8 KB spilled, compiled for sm_90)
                out.append(
                    {
                        "BLOCK_M": bm,
                        "BLOCK_N": bn,
                        "BLOCK_K": bk,
                        "GROUP_M": 8,
                        "num_warps": warps,
                        "num_stages": stages,
                    }
                )
    # one candidate per tile shape first (the likeliest stages and warps), then the variations
    firsts, rest, seen = [], [], set()
    for c in out:
        key = (c["BLOCK_M"], c["BLOCK_N"], c["BLOCK_K"])
        (rest if key in seen else firsts).append(c)
        seen.add(key)

    # Shape-aware order (the first candidate is also what an exhausted build budget gets): tiles that
    # still fill the GPU (>= one wave of SMS programs) largest first; when none do, the most programs.
    # With a short reduction (a few K steps) the epilogue weighs as much as the products, and tiles
    # above 128 x 128 hold too many accumulators per thread for it: they rank as 128 x 128 there.
    cap = 128 * 256 if k > 256 else 128 * 128

    def score(c: dict[str, int]) -> tuple[int, int]:
        programs = -(-m // c["BLOCK_M"]) * -(-n // c["BLOCK_N"])
        return (0, -min(cap, c["BLOCK_M"] * c["BLOCK_N"])) if programs >= SMS else (1, -programs)

    firsts.sort(key=score)
    out = firsts + rest
    limit = {0: 1, 1: 6, 2: 12, 3: 24}.get(level, len(out))
    return out[:limit] or [
        {"BLOCK_M": 32, "BLOCK_N": 32, "BLOCK_K": 32, "GROUP_M": 8, "num_warps": 4, "num_stages": 2}
    ]


def pointwise_space(n: int, level: int) -> list[dict[str, int]]:
    out = [
        {"BLOCK": b, "num_warps": w}
        for b in (1024, 2048, 4096, 512)
        for w in (4, 8)
        if b <= max(512, 2 * _pow2(n))
    ]
    return out[: {0: 1, 1: 2, 2: 4}.get(level, len(out))]


def _pow2(x: int) -> int:
    return 1 << max(0, (int(x) - 1).bit_length())


CAPTURE_LOCK = threading.Lock()
"""One CUDA-graph capture at a time in the process (tuning's timing graphs and the engines' graphs)."""


def bench_ms(fn: Callable[[], None], replays: int = 7) -> float:
    """Median GPU time of ``fn`` in milliseconds. Engines run as CUDA graphs, so candidates are timed
    that way too: a few calls captured into one graph and replayed between CUDA events. Timing plain
    launches would time the host (tens of microseconds of Python per launch) for the many kernels
    that run for less, and tuning would pick at random among them."""
    import torch

    fn()  # compiles
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    end.synchronize()
    calls = max(1, min(50, int(2.0 / max(start.elapsed_time(end), 1e-3))))  # about 2 ms per replay
    graph, stream = torch.cuda.CUDAGraph(), torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    # not torch.cuda.graph: its gc.collect per candidate adds up; thread-local capture so that other
    # threads' CUDA calls neither fail nor break this capture
    with CAPTURE_LOCK, torch.cuda.stream(stream):
        graph.capture_begin(capture_error_mode="thread_local")
        try:
            for _ in range(calls):
                fn()
        except BaseException:
            with contextlib.suppress(Exception):  # the capture is broken: the candidate's error is the news
                graph.capture_end()
            raise
        graph.capture_end()
    times = []
    for _ in range(replays):
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / calls)
    return sorted(times)[len(times) // 2]


def _launch_on_side_stream(kernel: Any, inputs: list[Any], outputs: list[Any], cfg: dict[str, int]) -> bool:
    import torch

    try:
        with torch.cuda.stream(torch.cuda.Stream()):
            kernel(inputs, [torch.empty_like(o) for o in outputs], cfg)
        return True
    except Exception:  # a config the compiler rejects: the timing loop skips it too
        return False


@dataclass(frozen=True)
class AlgorithmContext:
    """What a selector sees of one kernel being tuned (TensorRT's IAlgorithmContext)."""

    name: str
    """The kernel's name (its fused ops)."""
    template: str
    shapes: tuple[tuple[int, ...], ...]
    num_inputs: int

    @property
    def num_outputs(self) -> int:
        return len(self.shapes) - self.num_inputs

    def get_shape(self, index: int) -> tuple[int, ...]:
        """Shape of input ``index`` (outputs follow the inputs)."""
        return self.shapes[index]


@dataclass(frozen=True)
class Algorithm:
    """One candidate config of a kernel (TensorRT's IAlgorithm): ``tactic`` is its index in the space."""

    tactic: int
    config: dict[str, int]
    timing_msec: float = -1.0
    workspace_size: int = 0
    """Generated kernels need no workspace; the builder's WORKSPACE limit never excludes one."""


@dataclass
class Tuner:
    cache: TimingCache
    level: int = 2
    budget_s: float | None = None
    timer: Callable[[Callable[[], None]], float] = bench_ms
    timed: int = 0
    started: float = field(default_factory=time.perf_counter)
    selector: Any = None
    """An IAlgorithmSelector: ``select_algorithms(context, choices)`` returns the indices allowed."""
    timing: bool = True
    """False (no GPU): choose without timing, the first candidate the selector allows."""
    progress: Callable[[int, str], None] | None = None
    contexts: list[AlgorithmContext] = field(default_factory=list)
    chosen: list[Algorithm] = field(default_factory=list)

    workers: int = 8
    library: frozenset[str] = frozenset({"cublas", "cudnn"})
    """Library tactic sources that compete with the generated kernels (TensorRT's tactic sources):
    "cublas" for GEMMs, "cudnn" for convolutions; from tuning level 1, placed after the generated
    candidates (ties and an exhausted budget keep a generated kernel)."""

    def compile_all(
        self, kernel: Any, inputs: list[Any], outputs: list[Any], space: list[dict[str, int]]
    ) -> None:
        """Compile every candidate at once (Triton compiles mostly outside the GIL): one launch each,
        on side streams, into scratch outputs; builds take the longest compile, not the sum."""
        from concurrent.futures import ThreadPoolExecutor

        import torch

        if self.workers <= 1 or not torch.cuda.is_available():
            return
        with ThreadPoolExecutor(self.workers) as pool:
            list(pool.map(lambda cfg: _launch_on_side_stream(kernel, inputs, outputs, cfg), space))
        torch.cuda.synchronize()

    def choose(self, kernel: Any, inputs: list[Any], outputs: list[Any]) -> dict[str, int] | None:
        """The config for ``kernel`` on these tensors: from the cache, or timed now (None: heuristic)."""
        space = kernel.config_space(self.level) if hasattr(kernel, "config_space") else []
        library = getattr(kernel, "library_config", lambda: None)()
        if library is not None and self.level >= 1 and getattr(kernel, "tactic_source", "") in self.library:
            space = [*space, library]
        shapes = [tuple(t.shape) for t in [*inputs, *outputs]]
        if self.progress is not None:
            self.progress(len(self.contexts) + 1, getattr(kernel, "name", "kernel"))
        ctx = AlgorithmContext(
            getattr(kernel, "name", "kernel"), getattr(kernel, "kind", ""), tuple(shapes), len(inputs)
        )
        full = space
        if self.selector is not None and space:
            space = self._select(ctx, space)
        best = self._choose(kernel, inputs, outputs, space, shapes)
        if best is not None:
            self.contexts.append(ctx)
            self.chosen.append(Algorithm(full.index(best) if best in full else -1, dict(best)))
        return best

    def _select(self, ctx: AlgorithmContext, space: list[dict[str, int]]) -> list[dict[str, int]]:
        choices = [Algorithm(i, dict(c)) for i, c in enumerate(space)]
        picked = list(self.selector.select_algorithms(ctx, choices))
        if not picked:
            return space  # TensorRT: an empty selection leaves the choice to the builder
        bad = [i for i in picked if not (isinstance(i, int) and 0 <= i < len(space))]
        if bad:
            from tritium.ir.diagnostics import TritiumError

            raise TritiumError(
                f"algorithm selector returned indices {bad} for kernel '{ctx.name}', which has {len(space)} choices"
            )
        return [space[i] for i in sorted(set(picked))]

    def _choose(
        self, kernel: Any, inputs: list[Any], outputs: list[Any], space: list[dict[str, int]], shapes: list
    ) -> dict[str, int] | None:
        if len(space) <= 1 or not self.timing:
            return space[0] if space else None
        key = TimingCache.key(kernel_identity(kernel), shapes)
        if any("LIBRARY" in c for c in space):  # a choice made with a library competing is another key
            key += "|with-" + getattr(kernel, "tactic_source", "library")
        hit = self.cache.lookup(key)
        # A hit from a deeper search may lie outside this space and still serves; a library tactic
        # serves only where that library is allowed (it is then in the space).
        if hit is not None and (hit in space or (self.selector is None and "LIBRARY" not in hit)):
            return hit
        if self.budget_s is not None and time.perf_counter() - self.started > self.budget_s:
            return space[0]  # out of build time: the first (most promising) candidate
        workspaces = getattr(kernel, "_workspaces", None)  # (split-K's and stream-K's partial sums)
        before = set(workspaces.by_key) if workspaces is not None else set()
        try:
            return self._time(kernel, inputs, outputs, space, key)
        finally:  # the workspaces timing made on its own streams go: nothing captured them but its graphs
            if workspaces is not None and set(workspaces.by_key) != before:
                import torch

                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                workspaces.release(keep=before)

    def _time(
        self, kernel: Any, inputs: list[Any], outputs: list[Any], space: list[dict[str, int]], key: str
    ) -> dict[str, int]:
        self.compile_all(kernel, inputs, outputs, space)
        times: dict[int, float] = {}
        for i, cfg in enumerate(space):
            try:
                times[i] = self.timer(lambda cfg=cfg: kernel(inputs, outputs, cfg))
            except Exception:  # a config the compiler rejects (resources): skip it
                continue
            self.timed += 1
        if not times:
            return space[0]
        # The close contenders (within 10% of the best, three at most) are timed once more, after the
        # others, and keep their better time: one slow measurement (a clock dip) must not decide.
        # (The cache records that better time.)
        fastest = min(times.values())
        close = sorted((i for i in times if times[i] <= 1.1 * fastest), key=times.__getitem__)[:3]
        if len(close) > 1:
            for i in close:
                with contextlib.suppress(Exception):  # (a failure now keeps the first time)
                    times[i] = min(times[i], self.timer(lambda cfg=space[i]: kernel(inputs, outputs, cfg)))
        best = min(times, key=lambda i: (times[i], i))  # ties keep the earlier candidate
        self.cache.record(key, space[best], times[best])
        return space[best]
