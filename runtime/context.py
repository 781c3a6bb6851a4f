"""ExecutionContext: one stream of inference on a shared Engine (TensorRT's IExecutionContext)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tritium.codegen.tuning import CAPTURE_LOCK
from tritium.ir.diagnostics import TritiumError
from tritium.ir.types import TensorType
from tritium.runtime.engine import Engine, as_kind, as_tensor
from tritium.runtime.program import Program, Step, torch_dtype
from tritium.runtime.reference import InputError

MAX_BOUND_GRAPHS = 8
"""CUDA graphs a context captures for bound I/O addresses (one per set of addresses and shapes);
further sets run without a graph."""


class IProfiler:
    """Subclass and override ``report_layer_time``; assign to ``context.profiler``."""

    def report_layer_time(self, layer_name: str, ms: float) -> None:
        raise NotImplementedError


class _StepTimer:
    """Times each step: CUDA events on the GPU (read after the run), wall clock on the CPU.

    On the GPU the host takes longer to launch most layers (tens of microseconds of Python) than
    the GPU takes to run them, so events around a launch would time the host. Before each layer a
    short spin kernel keeps the GPU busy while the host enqueues the start event, the layer and the
    end event; the events then time the layer alone, as it runs inside a CUDA graph."""

    SPIN_CYCLES = 2_000_000  # about 1 ms: longer than the host needs to launch any one layer (up to 0.1 ms)

    def __init__(self, device: Any) -> None:
        self.cuda = device.type == "cuda"
        self.records: list[tuple[Step, Any, Any]] = []

    def start(self, step: Step) -> Any:
        if self.cuda:
            import torch

            if hasattr(torch.cuda, "_sleep"):
                torch.cuda._sleep(self.SPIN_CYCLES)
            ev = torch.cuda.Event(enable_timing=True)
            ev.record()
            return ev
        return time.perf_counter()

    def stop(self, step: Step, t0: Any) -> None:
        if self.cuda:
            import torch

            ev = torch.cuda.Event(enable_timing=True)
            ev.record()
            self.records.append((step, t0, ev))
        else:
            self.records.append((step, t0, time.perf_counter()))

    def times_ms(self) -> list[tuple[str, float]]:
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            return [(s.name, a.elapsed_time(b)) for s, a, b in self.records]
        return [(s.name, 1e3 * (b - a)) for s, a, b in self.records]


def _wrap_address(ptr: int, shape: tuple[int, ...], dtype: Any, device: Any) -> Any:
    """A torch tensor over memory the caller owns (a raw device or host pointer)."""
    import torch

    itemsize = torch.empty(0, dtype=dtype).element_size()
    n = int(np.prod(shape)) if shape else 1
    if device.type == "cuda":
        typestr = {1: "|u1", 2: "<u2", 4: "<u4", 8: "<u8"}[itemsize]

        class _Mem:
            __cuda_array_interface__ = {"shape": (n,), "typestr": typestr, "data": (ptr, False), "version": 3}

        raw = torch.as_tensor(_Mem(), device=device)
    else:
        import ctypes

        buf = (ctypes.c_uint8 * (n * itemsize)).from_address(ptr)
        raw = torch.frombuffer(buf, dtype=torch.uint8)
    return raw.view(torch.uint8).view(dtype).view(shape)


class ExecutionContext:
    def __init__(self, engine: Engine, own_memory: bool = True) -> None:
        self.engine = engine
        self.own_memory = own_memory
        self.profiler: IProfiler | None = None
        self.use_cuda_graph = True
        self._shapes: dict[str, tuple[int, ...]] = dict(engine._static_input_shapes() or {})
        self._profile = 0
        self._generation = engine.generation
        self._addresses: dict[str, Any] = {}
        self._allocated: dict[str, Any] = {}  # allocate_output's buffers, whose padding is the engine's
        self._arena: Any = None
        self._user_memory: Any = None
        self._graphs: dict[tuple, Any] = {}
        self._graph_arena: Any = None
        self._runs: dict[tuple, int] = {}
        self._stream: Any = None  # each context runs on its own CUDA stream (contexts in threads overlap)
        if engine.device.type == "cuda":
            import torch

            self._stream = torch.cuda.Stream(device=engine.device)

    # -- shapes ----------------------------------------------------------------------------------------
    def set_input_shape(self, name: str, shape: Sequence[int]) -> bool:
        if self.engine.get_tensor_mode(name).name != "INPUT":
            raise InputError(f"'{name}' is not an input of the engine; inputs are {self.engine.input_names}")
        t = self.engine._type(name)
        shape = tuple(int(d) for d in shape)
        if t.shape is not None and (
            len(shape) != len(t.shape) or any(isinstance(d, int) and d != s for d, s in zip(t.shape, shape))
        ):
            raise InputError(f"input '{name}' is {t}; shape {list(shape)} does not fit it")
        profiles = self.engine.profiles
        if profiles and name in profiles[self._profile]:

            def covers(profile: dict) -> bool:
                lo, _, hi = profile[name]
                return all(a <= d <= b for a, d, b in zip(lo, shape, hi))

            if not covers(profiles[self._profile]):
                lo, _, hi = profiles[self._profile][name]
                fits = [i for i, p in enumerate(profiles) if name in p and covers(p)]
                hint = (
                    f"; profile {fits[0]} covers it (set_optimization_profile_async)"
                    if fits
                    else "; no optimization profile of the engine covers it"
                )
                raise InputError(
                    f"input '{name}': shape {list(shape)} is outside optimization profile {self._profile} "
                    f"(min {list(lo)}, max {list(hi)}){hint}"
                )
        self._shapes[name] = shape
        return True

    @property
    def active_optimization_profile(self) -> int:
        return self._profile

    def set_optimization_profile_async(self, profile_index: int, stream_handle: int = 0) -> bool:
        """Select the optimization profile whose shape ranges later ``set_input_shape`` calls must fit."""
        n = self.engine.num_optimization_profiles
        if not 0 <= profile_index < n:
            raise InputError(f"the engine has {n} optimization profile(s); #{profile_index} does not exist")
        self._profile = profile_index
        return True

    def program(self) -> Program:
        missing = [n for n in self.engine.input_names if n not in self._shapes]
        if missing:
            raise InputError(f"set the shapes of the dynamic inputs {missing} first (set_input_shape)")
        return self.engine.program(self._shapes)

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        if name in self.engine.input_names and name in self._shapes:
            return self._shapes[name]
        prog = self.program()
        f = prog.func
        idx = self.engine.output_names.index(name)
        t = f.function_type.outputs[idx]
        return tuple(d if isinstance(d, int) else -1 for d in t.shape)

    def get_tensor_strides(self, name: str) -> tuple[int, ...]:
        """The element strides the engine uses for an I/O tensor at the current shapes: dense, but for
        an output whose unaligned rows its GEMM writes padded (``runtime/views.py``). A buffer bound
        with these strides is written without its padding; ``allocate_output`` makes one whose
        padding the engine may write (16-byte vector stores). A dense buffer works too."""
        shape = self.get_tensor_shape(name)
        if any(d < 0 for d in shape):
            raise InputError(f"tensor '{name}' has shape {shape}: set every input's shape first")
        row = shape[-1] if shape else 1
        if name in self.engine.output_names:
            prog = self.program()
            row = prog.padded.get(prog.returned[self.engine.output_names.index(name)], row)
        strides, step = [], 1
        for i, d in enumerate(reversed(shape)):
            strides.append(step)
            step = row if i == 0 else step * d
        return tuple(reversed(strides))

    def allocate_output(self, name: str) -> Any:
        """A device tensor for output ``name`` at the current shapes, laid out as ``get_tensor_strides``
        says, with memory for every row's padding. Bound (``set_tensor_address``), its padding is the
        engine's to write, as the buffer of a vectorized format is in TensorRT: its GEMM then stores
        whole 16-byte vectors. The context keeps the latest one per output (and only that one counts
        as its own)."""
        import torch

        if name not in self.engine.output_names:
            raise InputError(f"no output named '{name}'; the engine's outputs are {self.engine.output_names}")
        shape, strides = self.get_tensor_shape(name), self.get_tensor_strides(name)
        size = shape[0] * strides[0] if shape else 1
        dtype = torch_dtype(self.engine._type(name).dtype)
        memory = torch.empty(size, dtype=dtype, device=self.engine.device)
        self._allocated[name] = memory.as_strided(shape, strides)
        return self._allocated[name]

    def _allocated_here(self, name: str, t: Any) -> bool:
        """Whether ``t`` is the memory ``allocate_output(name)`` made (all of it, from its start)."""
        mine = self._allocated.get(name)
        return (
            mine is not None
            and tuple(t.shape) == tuple(mine.shape)  # (a view of it: the rest of it is the caller's)
            and t.data_ptr() == mine.data_ptr()
            and t.untyped_storage().data_ptr() == mine.untyped_storage().data_ptr()
            and t.untyped_storage().nbytes() == mine.untyped_storage().nbytes()
            and t.stride() == mine.stride()
        )

    # -- memory ------------------------------------------------------------------------------------------
    @property
    def device_memory_size(self) -> int:
        return self.program().arena_bytes

    def set_device_memory(self, memory: Any, size: int | None = None) -> None:
        """Use the caller's memory for the arena: a torch uint8 tensor, or a pointer and a size."""
        import torch

        if isinstance(memory, torch.Tensor):
            self._user_memory = memory.view(torch.uint8).reshape(-1)
        else:
            if size is None:
                raise InputError("set_device_memory(pointer) needs the size in bytes")
            self._user_memory = _wrap_address(int(memory), (size,), torch.uint8, self.engine.device)

    def _arena_for(self, prog: Program) -> Any:
        import torch

        need = prog.arena_bytes
        if self._user_memory is not None:
            if self._user_memory.numel() < need:
                raise TritiumError(
                    f"device memory of {self._user_memory.numel()} bytes is smaller than the "
                    f"{need} bytes this context needs (device_memory_size)"
                )
            return self._user_memory
        if not self.own_memory:
            raise TritiumError("this context was created without device memory: call set_device_memory first")
        if self._arena is None or self._arena.numel() < need:
            self._arena = torch.empty(max(need, 1), dtype=torch.uint8, device=self.engine.device)
        return self._arena

    def set_tensor_address(self, name: str, address: Any) -> bool:
        """Bind an I/O tensor to memory: a torch tensor, or a raw pointer (int) to enough bytes."""
        if self.engine.get_tensor_mode(name).name == "NONE":
            raise InputError(f"no I/O tensor named '{name}'")
        self._addresses[name] = address
        return True

    def get_tensor_address(self, name: str) -> int:
        a = self._addresses.get(name)
        return int(a.data_ptr()) if hasattr(a, "data_ptr") else int(a or 0)

    def _bound(self, name: str, shape: tuple[int, ...], any_rows: bool = False) -> Any:
        """The memory bound to ``name`` as a tensor of ``shape``. ``any_rows``: an output that its GEMM
        writes at any row stride (padded rows, as ``get_tensor_strides`` gives, among them)."""
        import torch

        from tritium.codegen.gemm import row_stride

        a = self._addresses[name]
        dtype = torch_dtype(self.engine._type(name).dtype)
        if isinstance(a, torch.Tensor):
            rows_ok = any_rows and tuple(a.shape) == shape and row_stride(a) is not None
            if a.dtype != dtype or not (a.is_contiguous() or rows_ok):
                layout = "" if a.is_contiguous() else f"non-contiguous (strides {tuple(a.stride())}) "
                want = "contiguous or with padded rows" if any_rows else "contiguous"
                raise InputError(
                    f"tensor '{name}' is bound to a {layout}{a.dtype} tensor of shape {tuple(a.shape)}; "
                    f"the engine reads and writes it as {want} {dtype} of shape {shape}"
                )
            return a.view(shape) if tuple(a.shape) != shape else a
        return _wrap_address(int(a), shape, dtype, self.engine.device)

    # -- running -----------------------------------------------------------------------------------------
    def execute_async_v3(self, stream_handle: int = 0) -> bool:
        """Run with the bound tensor addresses on the given CUDA stream (0: the current stream)."""
        import torch

        prog = self.program()
        ins = {a: self._bound(n, self._shapes[n]) for n, a in zip(self.engine.input_names, prog.func.args)}
        outs, owned = {}, set()
        for n, v in zip(self.engine.output_names, prog.returned):
            if n in self._addresses:
                outs[v] = self._bound(n, tuple(v.type.shape), v in prog.row_writers)  # type: ignore[attr-defined]
                if self._allocated_here(n, outs[v]):
                    owned.add(v)
        if self.engine.device.type == "cuda" and stream_handle:
            with torch.cuda.stream(torch.cuda.ExternalStream(stream_handle)):
                self._execute(prog, ins, outs, frozenset(owned))
        else:
            self._execute(prog, ins, outs, frozenset(owned))
        return True

    def run(self, inputs: Mapping[str, Any] | Sequence[Any]) -> dict[str, Any]:
        """Run on the given inputs and return the outputs (numpy in, numpy out; torch in, torch out)."""
        names = self.engine.input_names
        if not isinstance(inputs, Mapping):
            if len(inputs) != len(names):
                raise InputError(f"expected {len(names)} inputs {names}, got {len(inputs)}")
            inputs = dict(zip(names, inputs))
        missing, extra = [n for n in names if n not in inputs], [n for n in inputs if n not in names]
        if missing or extra:
            raise InputError(
                f"inputs do not match the engine: missing {missing}, unexpected {extra}; expected {names}"
            )
        kinds = set()
        tensors = {}
        for n in names:
            t, kind = as_tensor(inputs[n], n, self.engine.device)
            want = self.engine._type(n).dtype
            if t.dtype != torch_dtype(want):
                raise InputError(f"input '{n}' should have element type {want}, got {t.dtype}")
            self.set_input_shape(n, tuple(t.shape))
            tensors[n] = t
            kinds.add(kind)
        prog = self.program()
        ins = {a: tensors[n] for n, a in zip(names, prog.func.args)}
        result = self._execute(prog, ins, {})
        kind = "torch" if "torch" in kinds else "numpy"
        return {n: as_kind(result[v], kind) for n, v in zip(self.engine.output_names, prog.returned)}

    def _execute(self, prog: Program, ins: dict, outs: dict, owned: frozenset = frozenset()) -> dict:
        """Run on this context's stream, ordered after the caller's current stream and before it.
        ``owned``: the bound outputs in memory this context allocated (``allocate_output``)."""
        if self._stream is None:
            return self._run(prog, ins, outs, owned)
        import torch

        caller = torch.cuda.current_stream()
        self._stream.wait_stream(caller)  # inputs were produced on the caller's stream
        with torch.cuda.stream(self._stream):
            result = self._run(prog, ins, outs, owned)
        caller.wait_stream(self._stream)  # the caller sees finished outputs
        for t in list(result.values()) + list(ins.values()):
            if isinstance(t, torch.Tensor) and t.is_cuda:
                t.record_stream(self._stream)
        return result

    def _run(self, prog: Program, ins: dict, outs: dict, owned: frozenset = frozenset()) -> dict:

        if self._generation != self.engine.generation:  # refit: graphs hold the old weights
            self._graphs.clear()
            self._runs.clear()
            self._generation = self.engine.generation

        arena = self._arena_for(prog)
        if arena is not self._graph_arena:  # graphs hold the old arena's addresses
            self._graphs.clear()
            self._runs.clear()
            self._graph_arena = arena
        key: tuple = tuple(tuple(t.shape) for t in ins.values())
        if outs:  # bound I/O (execute_async_v3): a graph reads and writes the caller's own memory
            key += ("bound", *((t.data_ptr(), t.dtype, tuple(t.stride())) for t in ins.values()))
            key += tuple(
                (t.data_ptr(), t.dtype, tuple(t.shape), tuple(t.stride()), v in owned)
                for v, t in outs.items()
            )
        cudagraph = (
            self.use_cuda_graph
            and self.engine.device.type == "cuda"
            and self.profiler is None
            and all(s.mode != "host" for s in prog.steps)
        )
        if cudagraph:
            entry = self._graphs.get(key)
            room = not outs or sum("bound" in k for k in self._graphs) < MAX_BOUND_GRAPHS
            if entry is None and room and self._runs.get(key, 0) >= 1:  # capture after a first run
                entry = self._capture(prog, arena, ins, key, outs or None, owned)
            if entry is not None:
                graph, static_in, static_out = entry
                if outs:
                    graph.replay()  # no copies: the graph holds the bound addresses
                    return dict(outs)
                for v, t in ins.items():
                    static_in[v].copy_(t)
                graph.replay()
                return {v: t.clone() for v, t in static_out.items()}
        timer = None
        if self.profiler is not None:
            timer = _StepTimer(self.engine.device)
        result = prog.run(arena, ins, outs, timer, owned=owned)
        if outs and len(self._runs) > 4 * MAX_BOUND_GRAPHS:  # addresses seen once and not again
            for k in [k for k in self._runs if "bound" in k and k not in self._graphs]:
                del self._runs[k]
        self._runs[key] = self._runs.get(key, 0) + 1
        if timer is not None:
            for name, ms in timer.times_ms():
                self.profiler.report_layer_time(name, ms)  # type: ignore[union-attr]
        return result

    def _capture(
        self,
        prog: Program,
        arena: Any,
        ins: dict,
        key: tuple,
        outs: dict | None = None,
        owned: frozenset = frozenset(),
    ) -> Any:
        """Capture the program into a CUDA graph on this context's stream. One capture at a time in
        the process, and without torch.cuda.graph's device-wide synchronize: a device sync (or a
        second capture) in another thread while this one captures would invalidate it. A failed
        capture turns graphs off for this context, with a warning; the run goes on without.
        With ``outs`` (bound I/O) the graph reads ``ins`` and writes ``outs`` where they are: it is
        keyed by their addresses (and dtypes, strides and shapes); once ``MAX_BOUND_GRAPHS`` such
        graphs exist, further sets of addresses run without one (no capture, no eviction: a pool of
        more buffers than that would otherwise capture on every call)."""
        import logging

        import torch

        static_in = {v: t.clone() for v, t in ins.items()} if outs is None else ins
        graph = torch.cuda.CUDAGraph()
        with CAPTURE_LOCK, torch.cuda.stream(self._stream):
            self._stream.synchronize()  # the clones above are done before capture starts
            try:
                graph.capture_begin(capture_error_mode="thread_local")
                try:
                    static_out = prog.run(arena, static_in, outs or {}, owned=owned)
                finally:
                    graph.capture_end()
            except Exception as e:
                logging.getLogger("tritium").warning(
                    "CUDA graph capture failed (%s); this context runs without graphs", str(e).splitlines()[0]
                )
                self.use_cuda_graph = False
                return None
        # a graph of bound addresses keeps no reference to the caller's tensors
        entry = self._graphs[key] = (graph, static_in, static_out) if outs is None else (graph, None, None)
        return entry

    def profile(self, inputs: Mapping[str, Any], iterations: int = 10) -> list[dict[str, Any]]:
        """Per-layer times over ``iterations`` runs (after one warm-up run): a table of dicts."""

        class _Collect(IProfiler):
            def __init__(self) -> None:
                self.times: dict[str, list[float]] = {}

            def report_layer_time(self, layer_name: str, ms: float) -> None:
                self.times.setdefault(layer_name, []).append(ms)

        self.run(inputs)
        saved, coll = self.profiler, _Collect()
        self.profiler = coll
        try:
            for _ in range(iterations):
                self.run(inputs)
        finally:
            self.profiler = saved
        prog = self.program()
        modes = {s.name: s.mode for s in prog.steps}
        rows = [
            {"layer": k, "median_ms": float(np.median(v)), "mean_ms": float(np.mean(v)), "mode": modes.get(k)}
            for k, v in coll.times.items()
        ]
        total = sum(r["median_ms"] for r in rows) or 1e-12
        for r in rows:
            r["percent"] = 100 * r["median_ms"] / total
        return rows


__all__ = ["ExecutionContext", "IProfiler", "TensorType"]
