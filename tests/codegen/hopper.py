"""Generated kernels compiled for an H100 (sm_90) on a machine without a GPU.

Triton's interpreter, which runs the generated kernels on the CPU, does not compile them, so it cannot
see what only the compiler rejects (a loop-carried value that changes type, a constant used as a
tensor, a layout the target cannot hold), nor a config that needs more shared memory than the card
has. Triton's compiler itself runs anywhere: TTIR -> TTGIR -> LLVM IR -> PTX -> cubin (the wheel's
ptxas). Here each kernel launch is replaced by Triton's ``warmup`` (compile, do not launch) against a
driver that reports an sm_90 target, and a tuner compiles every config that tuning could time.

Triton decides when it is imported whether it interprets, so this runs in a process of its own:
``python -m tests.codegen.hopper [case ...]`` prints one JSON line per case, with each compiled
kernel's registers and spilled bytes (``test_hopper_compile.py`` runs it; ``--uncompilable`` shows
that the check can fail). The cases are the zoo's models (``tests/models/nets.py``) and IR texts for
the templates the small models do not reach (every GEMM form, int8 and float 8 GEMMs, the GEMM
chain, the TMA convolution, attention with head size 128).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

H100_SHARED = 232448
"""Shared memory per block on an H100 (227 KB): what a launch may ask for."""


@contextlib.contextmanager
def compile_only(capability: int = 90) -> Iterator[list[dict[str, Any]]]:
    """Kernel launches compile for ``sm_<capability>`` and launch nothing; yields the list each
    compiled kernel's record is appended to (name, warps, stages, shared memory, registers, local
    memory)."""
    from triton.backends.compiler import GPUTarget
    from triton.runtime import driver
    from triton.runtime.jit import KernelInterface

    import tritium.codegen.triton_env as env
    from tritium.codegen import attention_gluon

    if os.environ.get("TRITON_INTERPRET") == "1":
        raise RuntimeError("Triton interprets in this process: run the compile check in a process of its own")

    class Target:  # the parts of a driver that compiling asks for
        def get_current_target(self) -> Any:
            return GPUTarget("cuda", capability, 32)

        def get_current_device(self) -> int:
            return 0

        def get_current_stream(self, device: int | None = None) -> int:
            return 0

    compiled: list[dict[str, Any]] = []

    def getitem(self: Any, grid: Any) -> Any:
        def compile(*args: Any, **kwargs: Any) -> Any:
            k = self.run(*args, grid=grid, warmup=True, **kwargs)
            m = k.metadata
            record = {
                "name": self.fn.__name__,
                "warps": m.num_warps,
                "stages": m.num_stages,
                "shared": m.shared,
            }
            compiled.append(record | resources(k.asm["cubin"]))
            return k

        return compile

    patched = {  # the features the H100's Triton has (feature-detected on a GPU, off without one)
        "use_interpreter": lambda: False,
        "tma_available": lambda: True,
        "persistent_available": lambda: True,
        "maxnreg_available": lambda: True,
        "pdl_available": lambda: True,
        "sm_count": lambda: 132,
    }
    saved = {name: getattr(env, name) for name in patched}
    launch, active = KernelInterface.__getitem__, driver._active  # (no default driver without a GPU)
    gluon_available = attention_gluon.available
    try:
        driver.set_active(Target())
        KernelInterface.__getitem__ = getitem  # type: ignore[method-assign]
        for name, f in patched.items():
            setattr(env, name, f)
        attention_gluon.available = attention_gluon.importable  # (an sm_90 target: no GPU to ask)
        yield compiled
    finally:
        KernelInterface.__getitem__ = launch  # type: ignore[method-assign]
        driver._active = active
        for name, f in saved.items():
            setattr(env, name, f)
        attention_gluon.available = gluon_available  # type: ignore[method-assign]


def resources(cubin: bytes) -> dict[str, int]:
    """Registers per thread and bytes of local memory (spilled registers, a stack) of the kernel in
    ``cubin``, as ``cuobjdump -res-usage`` (Triton's wheel ships it) reads them."""
    import re
    import subprocess
    import tempfile

    import triton

    tool = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(cubin)
        f.flush()
        out = subprocess.run([tool, "-res-usage", f.name], capture_output=True, text=True, check=True).stdout
    usage = {k: int(v) for k, v in re.findall(r"(REG|STACK|LOCAL):(\d+)", out)}
    return {"regs": usage["REG"], "local": usage.get("STACK", 0) + usage.get("LOCAL", 0)}


class EveryConfig:
    """A tuner (``Engine.tune``) that compiles each kernel with every config of its tuning space at
    ``level``, and its default, and chooses none; it keeps what failed to compile."""

    progress = None

    def __init__(self, compiled: list[dict[str, Any]], level: int = 2) -> None:
        self.compiled, self.level = compiled, level
        self.kernels: list[str] = []
        self.constant_sizes: list[str] = []
        """The kernels whose sizes are compile-time constants (``TRITIUM_CONSTEXPR_SIZES``)."""
        self.failures: list[str] = []

    def choose(self, kernel: Any, inputs: list[Any], outputs: list[Any]) -> None:
        name = getattr(kernel, "name", type(kernel).__name__)
        self.kernels.append(name)
        source = getattr(kernel, "source", "")
        if any(f" {n}: tl.constexpr," in source for n in ("K", "K1", "KRED", "SK")):
            self.constant_sizes.append(name)
        space = kernel.config_space(self.level) if hasattr(kernel, "config_space") else []
        for config in [None, *space]:
            first = len(self.compiled)
            try:
                kernel(inputs, outputs, config)
                for record in self.compiled[first:]:
                    record["kernel"], record["config"] = name, config
            except Exception as e:  # (each failure is reported with its config)
                last = (str(e).splitlines() or [""])[-1]
                self.failures.append(f"{name} {config}: {type(e).__name__}: {last[:300]}")
        return None


def ir_cases() -> dict[str, str]:
    """IR texts (f16) for the templates the zoo's small models do not reach."""
    from tests.codegen import gemm_gelu_residual
    from tests.codegen.test_gemm_chain import chain_case

    def ty(shape: tuple[int, ...]) -> str:
        return "tensor<" + "".join(f"{d}x" for d in shape) + "f16>"

    conv = f"""func.func @main(%x: {ty((2, 14, 13, 64))}, %w: {ty((64, 3, 3, 64))}, %b: {ty((64,))}) -> {ty((2, 14, 13, 64))} {{
  %y = nn.conv %x, %w, %b {{strides = [1, 1], pads = [1, 1, 1, 1], dilations = [1, 1], layout = "NHWC"}} : ({ty((2, 14, 13, 64))}, {ty((64, 3, 3, 64))}, {ty((64,))}) -> {ty((2, 14, 13, 64))}
  %r = nn.relu %y : {ty((2, 14, 13, 64))}
  func.return %r : {ty((2, 14, 13, 64))}
}}"""
    t, s = ty((2, 4, 200, 128)), ty((2, 4, 200, 200))
    attention = f"""func.func @main(%q: {t}, %k: {t}, %v: {t}) -> {t} {{
  %y, %pk, %pv, %qk = nn.attention %q, %k, %v {{is_causal = true, scale = 0.088}} : ({t}, {t}, {t}) -> ({t}, {t}, {t}, {s})
  func.return %y : {t}
}}"""

    t, s, m = ty((2, 4, 256, 64)), ty((2, 4, 256, 256)), ty((2, 1, 1, 256))
    gluon_attention = f"""func.func @main(%q: {t}, %k: {t}, %v: {t}, %m: {m}) -> {t} {{
  %y, %pk, %pv, %qk = nn.attention %q, %k, %v, %m {{is_causal = true}} : ({t}, {t}, {t}, {m}) -> ({t}, {t}, {t}, {s})
  func.return %y : {t}
}}"""  # (what the hand-written Hopper kernel takes too: attention_gluon.py)

    def low(op: str, dt: str, acc: str) -> str:  # an 8-bit GEMM, its scale and a ReLU
        a, b, o = f"tensor<333x96x{dt}>", f"tensor<96x208x{dt}>", "tensor<333x208xf32>"
        cast = (
            f"%f = nn.cast %p {{to = f32}} : (tensor<333x208x{acc}>) -> {o}"
            if acc != "f32"
            else "%f = nn.relu %p : " + o
        )
        return f"""func.func @main(%a: {a}, %b: {b}) -> {o} {{
  %p = {op} %a, %b : ({a}, {b}) -> tensor<333x208x{acc}>
  {cast}
  %s = nn.constant dense<0.001> : tensor<f32>
  %y = nn.mul %f, %s : ({o}, tensor<f32>) -> {o}
  %r = nn.relu %y : {o}
  func.return %r : {o}
}}"""

    return {
        # enough tiles for the persistent and stream-K forms; K one BLOCK_K of 64: a constant K's
        # loop folds away, which Triton's Hopper warp specialization failed on
        "gemm": gemm_gelu_residual(9000, 64, 200),
        "int8-gemm": low("nn.matmul_integer", "i8", "i32"),
        "fp8-gemm": low("nn.matmul_float8", "f8E4M3FN", "f32"),
        "chain": chain_case((300,), 64, 256, 64),
        "conv3x3": conv,
        "attention-d128-causal": attention,
        "attention-d64-key-mask": gluon_attention,
    }


def check(case: str, level: int) -> dict[str, Any]:
    """Build ``case`` (a zoo model, FP16, or an IR case), compile every kernel's configs for the H100."""
    import numpy as np

    import tritium as tr
    import tritium.ir as ir
    from tritium.codegen.triton_env import triton_version

    with compile_only() as compiled:
        if case in (cases := ir_cases()):
            engine = tr.compile(ir.parse_ir(cases[case]))
            shapes = {name: tuple(engine._types[name].shape) for name in engine.input_names}
        else:
            from tests.models.nets import MODELS, exported

            path = exported(case, "legacy")
            engine = tr.compile(str(path), fp16=True)
            shapes = {k: v.shape for k, v in MODELS[case].inputs(np.random.default_rng(0), False).items()}
        tuner = EveryConfig(compiled, level)
        engine.tune(shapes, tuner)
    compiled = [c for c in compiled if "config" in c]  # (not the program's own launch after tuning)
    over = [c for c in compiled if c["shared"] > H100_SHARED]
    spills = [c for c in compiled if c["local"] > 0]
    return {
        "case": case,
        "triton": triton_version(),
        "kernels": len(tuner.kernels),
        "constant_sizes": tuner.constant_sizes,
        "compiled": len(compiled),
        "names": sorted({c["name"] for c in compiled}),
        "failures": tuner.failures,
        "over_shared": over,
        "spills": spills,
        "max_regs": max((c["regs"] for c in compiled), default=0),
    }


UNCOMPILABLE = """import triton
import triton.language as tl


@triton.jit
def loop_type_change(x_ptr, y_ptr, N):
    acc = 0
    for i in range(N):
        acc += tl.load(x_ptr + i)
    tl.store(y_ptr, acc)
"""
"""A kernel that Triton's interpreter runs and its compiler rejects: the loop-carried sum starts as
an integer and becomes a float."""


def uncompilable() -> str:
    """The error that compiling ``UNCOMPILABLE`` for the H100 raises here ("" if it compiled)."""
    import torch

    from tritium.codegen.triton_env import load_source

    with compile_only():
        kernel = load_source(UNCOMPILABLE, "loop_type_change").loop_type_change
        try:
            kernel[(1,)](torch.ones(4), torch.empty(1), 4)
        except Exception as e:  # (what the compiler says is the result)
            return f"{type(e).__name__}: {e}"
    return ""


MODELS = ("resnet_bottleneck", "mobilenet_v2", "bert", "gpt2")
"""The zoo's models that are checked (at tuning level 2, the default build's; the IR cases at level
3, every form)."""


def main(argv: list[str]) -> None:
    if argv == ["--uncompilable"]:
        print(json.dumps({"error": uncompilable()}))
        return
    for case in argv or [*MODELS, *ir_cases()]:
        print(json.dumps(check(case, level=2 if case in MODELS else 3)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
