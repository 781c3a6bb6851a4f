"""Engine and ExecutionContext (TensorRT's ICudaEngine / IExecutionContext), on generated kernels.

An Engine is immutable and shared: kernel IR, weights (held once, on the device), generated kernels.
Each ExecutionContext owns its activation arena (or uses the caller's, ``set_device_memory``), its
input shapes, its tensor addresses and an optional profiler, and runs on any CUDA stream. Programs
(the IR specialized to one set of input shapes, with its memory plan) are built on first use and
cached by the engine; a context re-specializes when its input shapes change.

The Pythonic door is ``engine(inputs)`` / ``context.run(inputs)``: numpy arrays, torch tensors or
DLPack objects in, the same kind out.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tritium.codegen.triton_env import ensure_mode, use_interpreter, warm_up
from tritium.ir.diagnostics import TritiumError
from tritium.ir.parser import parse_ir
from tritium.ir.printer import print_ir
from tritium.ir.types import TensorType
from tritium.runtime.program import Program, from_numpy, to_numpy, torch_dtype
from tritium.runtime.reference import InputError
from tritium.runtime.types import DataType, TensorIOMode


def clone_module(module: Any) -> Any:
    """A deep copy through the text form; the weight arrays are shared, not copied (the table is)."""
    copy = parse_ir(print_ir(module))
    copy.resources = dict(module.resources)
    return copy


class Engine:
    def __init__(
        self,
        module: Any,
        device: str | None = None,
        manifest: dict[str, Any] | None = None,
        source: Any = None,
    ) -> None:
        import torch

        ensure_mode()
        self.module = module
        self.source = source
        """The unoptimized module of a refittable engine (weights by their source names), else None."""
        self.generation = 0
        """Bumped when refitting replaces the weights: contexts drop their CUDA graphs."""
        self.device = torch.device(device or ("cpu" if use_interpreter() else "cuda"))
        self.manifest = dict(manifest or {})
        if self.device.type == "cuda":  # a plan whose tuning picked library tactics: warm those too
            library = any("LIBRARY" in c for c in (self.manifest.get("configs") or {}).values())
            warm_up(self.device if library else None)
        self.profiles: list[dict[str, list[tuple[int, ...]]]] = [
            {n: [tuple(s) for s in mom] for n, mom in p.items()} for p in self.manifest.get("profiles") or []
        ]
        """Optimization profiles: per profile, input name -> [min, opt, max] shapes."""
        f = module.main
        self._func = f
        self.input_names: list[str] = f.arg_names
        self.output_names: list[str] = f.result_names
        self._types = dict(zip(self.input_names, f.function_type.inputs)) | dict(
            zip(self.output_names, f.function_type.outputs)
        )
        self.weights: dict[str, Any] = {}  # resource name -> device tensor, shared by all programs
        self._kernels: dict[str, Any] = {}  # generated source -> kernel object
        self.configs: dict[str, dict[str, int]] = dict(
            self.manifest.get("configs") or {}
        )  # source hash -> tuning
        self._programs: dict[tuple, Program] = {}
        self._lock = threading.Lock()
        self._default = threading.local()

    # -- TensorRT's engine queries -----------------------------------------------------------------
    @property
    def refittable(self) -> bool:
        return self.source is not None

    @property
    def num_optimization_profiles(self) -> int:
        return max(1, len(self.manifest.get("profiles") or []))

    def get_tensor_profile_shape(self, name: str, profile_index: int) -> list[tuple[int, ...]]:
        """[min, opt, max] of input ``name`` in the profile (static inputs: their shape three times)."""
        profiles = self.profiles
        if profiles:
            if not 0 <= profile_index < len(profiles):
                raise KeyError(f"the engine has {len(profiles)} optimization profiles, not #{profile_index}")
            if name in profiles[profile_index]:
                return profiles[profile_index][name]
        shape = tuple(self._type(name).shape or ())
        if not all(isinstance(d, int) for d in shape):
            raise KeyError(f"input '{name}' is dynamic and no optimization profile gives its shapes")
        return [shape, shape, shape]  # type: ignore[list-item]

    @property
    def num_io_tensors(self) -> int:
        return len(self.input_names) + len(self.output_names)

    def get_tensor_name(self, index: int) -> str:
        return (self.input_names + self.output_names)[index]

    def get_tensor_mode(self, name: str) -> TensorIOMode:
        if name in self.input_names:
            return TensorIOMode.INPUT
        if name in self.output_names:
            return TensorIOMode.OUTPUT
        return TensorIOMode.NONE

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        t = self._type(name)
        return tuple(d if isinstance(d, int) else -1 for d in t.shape or ())

    def get_tensor_dtype(self, name: str) -> DataType:
        return DataType.of(self._type(name).dtype)

    def _type(self, name: str) -> TensorType:
        t = self._types.get(name)
        if not isinstance(t, TensorType):
            raise KeyError(
                f"no I/O tensor named '{name}'; the engine has {self.input_names + self.output_names}"
            )
        return t

    @property
    def device_memory_size(self) -> int:
        """Arena bytes at the declared input shapes (0 when they are dynamic: known per shape)."""
        shapes = self._static_input_shapes()
        return self.program(shapes).arena_bytes if shapes is not None else 0

    def _opt_shapes(self) -> dict[str, tuple[int, ...]] | None:
        """The static input shapes, else the opt shapes of the first optimization profile."""
        static = self._static_input_shapes()
        if static is not None or not self.profiles:
            return static
        return {n: tuple(self.get_tensor_profile_shape(n, 0)[1]) for n in self.input_names}

    def _static_input_shapes(self) -> dict[str, tuple[int, ...]] | None:
        out = {}
        for n in self.input_names:
            t = self._type(n)
            if not t.is_static:
                return None
            out[n] = tuple(t.shape)  # type: ignore[arg-type]
        return out

    # -- programs ---------------------------------------------------------------------------------
    @property
    def kernel_pipeline(self) -> str:
        from tritium.passes.pipelines import kernel_pipeline

        return self.manifest.get("kernel_pipeline") or kernel_pipeline(2)

    def program(self, shapes: Mapping[str, tuple[int, ...]], precompile: bool = True) -> Program:
        """The kernel program for these input shapes: the graph IR specialized to them, shape
        computations folded, fused into kernels (built once per distinct shapes, then cached).
        ``precompile``: compile its kernels now, with their chosen configs (tuning, which compiles
        its candidates anyway, passes False)."""
        key = tuple(tuple(shapes[n]) for n in self.input_names)
        prog = self._programs.get(key)
        if prog is not None:
            return prog
        with self._lock:
            prog = self._programs.get(key)
            if prog is None:
                from tritium.codegen.triton_env import shapes_vary
                from tritium.passes import PassManager
                from tritium.passes.specialize_shapes import specialize

                module = clone_module(self.module)
                specialize(module, shapes)
                PassManager(self.kernel_pipeline).run(module)
                with shapes_vary(self._static_input_shapes() is None):  # (one program per shape)
                    prog = Program(module, self.device, self.weights, self._kernels, self.configs)
                if self.device.type == "cuda" and precompile:
                    prog.precompile()
                self._programs[key] = prog
        return prog

    def tune(self, shapes: Mapping[str, tuple[int, ...]], tuner: Any) -> None:
        """Choose every kernel's config at these shapes (timing on the GPU; random inputs)."""
        import sys

        import torch

        from tritium.codegen.triton_env import wait_for_warm_up

        wait_for_warm_up()  # Triton's driver is created by one thread, not raced by the tuner's
        prog = self.program(shapes, precompile=False)
        if sys.stderr.isatty() and tuner.progress is None:
            total = sum(1 for st in prog.steps if st.mode == "kernel")
            tuner.progress = lambda i, name: print(
                f"\r[tritium] tuning {min(i, total)}/{total} {name[:60]:<60}",
                end="",
                file=sys.stderr,
                flush=True,
            )
        ins = {}
        for a in prog.func.args:
            t = a.type
            dt = torch_dtype(t.dtype)
            if t.dtype.is_float:
                ins[a] = torch.randn(tuple(t.shape), device=self.device).to(dt)
            else:
                ins[a] = torch.zeros(tuple(t.shape), dtype=dt, device=self.device)
        arena = torch.empty(max(prog.arena_bytes, 1), dtype=torch.uint8, device=self.device)
        prog.run(arena, ins, {}, tuner=tuner)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            prog.precompile()  # what tuning did not compile (its timing-cache hits), in parallel
        if sys.stderr.isatty():
            print(file=sys.stderr)
        self.manifest["configs"] = dict(self.configs)

    # -- contexts ----------------------------------------------------------------------------------
    def create_execution_context(self) -> Any:
        from tritium.runtime.context import ExecutionContext

        return ExecutionContext(self, own_memory=True)

    def create_execution_context_without_device_memory(self) -> Any:
        from tritium.runtime.context import ExecutionContext

        return ExecutionContext(self, own_memory=False)

    def __call__(self, inputs: Mapping[str, Any] | Sequence[Any]) -> dict[str, Any]:
        ctx = getattr(self._default, "ctx", None)
        if ctx is None:
            ctx = self._default.ctx = self.create_execution_context()
        return ctx.run(inputs)

    # -- serialization and inspection ------------------------------------------------------------------
    def serialize(self, include_binaries: bool = True) -> bytes:
        """The plan. On the GPU it carries the compiled binaries of the kernels run so far, so that
        loading it on the same GPU and Triton skips compilation."""
        from tritium.runtime.plan import serialize_plan

        binaries, manifest = None, self.manifest
        if include_binaries and self.device.type == "cuda" and self._kernels:
            from tritium.codegen.binaries import harvest, launcher_signatures
            from tritium.codegen.triton_env import loaded_modules, source_hash

            configs: dict[str, list] = {}  # module (code hash) -> the configs its layers run with
            for prog in list(self._programs.values()):
                for st in prog.steps:
                    if st.mode == "kernel" and isinstance(getattr(st.kernel, "source", None), str):
                        configs.setdefault(source_hash(st.kernel.source), []).append(st.config)
            mods = [(m, configs.get(h, [])) for h, m in loaded_modules(list(self._kernels)).items()]
            binaries = harvest(mods)
            manifest = {**manifest, "launchers": launcher_signatures(mods)}  # data, see codegen/binaries.py
        return serialize_plan(self.module, manifest, binaries, source=self.source)

    def create_engine_inspector(self) -> Any:
        return EngineInspector(self)

    # -- refit ---------------------------------------------------------------------------------------------
    def _replace_weights(self, module: Any) -> None:
        """Swap in ``module`` (the same graph with new weights): programs rebuild on next use from the
        cached kernels, and contexts re-capture their CUDA graphs."""
        with self._lock:
            self.module = module
            self._func = module.main
            self._programs.clear()
            self.weights.clear()
            self.generation += 1

    def save(self, path: str) -> None:
        from pathlib import Path

        Path(path).write_bytes(self.serialize())

    def inspect(self, shapes: Mapping[str, tuple[int, ...]] | None = None) -> dict[str, Any]:
        """The engine inspector's JSON: one entry per layer (kernel), as TensorRT's IEngineInspector."""
        shapes = shapes or self._opt_shapes()
        if shapes is None:
            raise TritiumError("the engine has dynamic inputs: pass shapes to inspect a specialization")
        prog = self.program(shapes)
        layers = []
        for step in prog.steps:
            op = step.op
            fused = [o for o in getattr(op, "ops", []) if o.name != "nn.constant"]
            layers.append(
                {
                    "name": step.name,
                    "kind": getattr(op, "kind", op.name),
                    "fused_ops": [o.name for o in fused] or [op.name],
                    "source_nodes": list(getattr(op.loc, "names", ()) or ()),
                    "tactic": _library_tactic(step)
                    or {
                        "kernel": "generated Triton",
                        "view": "reshape (a view; a copy only where the input's strides forbid one)",
                        "strided": "strided view (no copy)",
                        "host": "host reference",
                        "plugin": "plugin device code",
                    }[step.mode],
                    "kernel": getattr(step.kernel, "name", None),
                    "template": getattr(step.kernel, "kind", None),
                    "config": step.config,
                    "inputs": [str(v.type) for v in step.inputs],
                    "outputs": [str(v.type) for v in step.outputs],
                }
            )
        return {
            "inputs": {n: str(self._types[n]) for n in self.input_names},
            "outputs": {n: str(self._types[n]) for n in self.output_names},
            "arena_bytes": prog.arena_bytes,
            "layers": layers,
            "build": self.manifest.get("build", {}),
        }

    def host_steps(self, shapes: Mapping[str, tuple[int, ...]] | None = None) -> list[str]:
        """Names of the layers that run on the host reference (no generated kernel yet)."""
        return [
            layer["name"] for layer in self.inspect(shapes)["layers"] if layer["tactic"] == "host reference"
        ]


class EngineInspector:
    """TensorRT's IEngineInspector over `Engine.inspect` (JSON strings)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.execution_context: Any = None

    def _info(self) -> dict[str, Any]:
        """`Engine.inspect`, with as much per-layer detail as the build's profiling verbosity allows."""
        shapes = None
        ctx = self.execution_context
        if ctx is not None:
            shapes = dict(ctx._shapes)
        info = self.engine.inspect(shapes or self.engine._opt_shapes())
        verbosity = self.engine.manifest.get("profiling_verbosity", "DETAILED")
        if verbosity == "LAYER_NAMES_ONLY":
            info["layers"] = [{"name": layer["name"]} for layer in info["layers"]]
        elif verbosity == "NONE":
            info["layers"] = []
        return info

    def get_layer_information(self, layer_index: int, format: Any = None) -> str:
        import json

        return json.dumps(self._info()["layers"][layer_index])

    def get_engine_information(self, format: Any = None) -> str:
        import json

        return json.dumps(self._info(), default=str)


def as_tensor(x: Any, name: str, device: Any) -> tuple[Any, str]:
    """(torch tensor on ``device``, the kind the caller used: numpy, torch or dlpack)."""
    import torch

    if isinstance(x, torch.Tensor):
        return x.to(device), "torch"
    if isinstance(x, np.ndarray):
        return from_numpy(x).to(device), "numpy"
    if hasattr(x, "__dlpack__"):
        return torch.from_dlpack(x).to(device), "dlpack"
    try:
        arr = np.asarray(x)
        return from_numpy(arr).to(device), "numpy"
    except Exception as e:
        raise InputError(f"input '{name}': cannot read a {type(x).__name__} as a tensor ({e})") from None


def as_kind(t: Any, kind: str) -> Any:
    if kind == "numpy":
        return to_numpy(t)
    return t


__all__ = ["Engine", "as_kind", "as_tensor", "clone_module", "torch_dtype"]


def _library_tactic(step: Any) -> str | None:
    """The inspector's tactic of a kernel whose tuning chose a library call (or the hand-written Gluon
    attention) over the generated code."""
    if step.mode == "kernel" and (step.config or {}).get("GLUON"):
        return "Gluon (hand-written, warp-specialized)"
    if step.mode != "kernel" or not (step.config or {}).get("LIBRARY"):
        return None
    library = {"cublas": "cuBLAS", "cudnn": "cuDNN"}.get(getattr(step.kernel, "tactic_source", ""), "library")
    if getattr(step.kernel, "library_twin", False):
        return f"{library} (through torch) + generated epilogue"
    fused = {"relu": ", ReLU fused", "add_relu": ", sum and ReLU fused", "addmm_relu": ", ReLU fused"}
    return f"{library} (through torch)" + fused.get(getattr(step.kernel, "library_form", ""), "")
