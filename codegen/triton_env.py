"""Loading generated Triton source, on a GPU or under Triton's CPU interpreter.

Generated kernels are plain Python modules. Triton's ``@jit`` reads a function's source with
``inspect``, so each module's code (its source after the header comment: every layer's copy of a
kernel is one module) is written to a cache folder, named by its hash, and imported from there.
``TRITON_INTERPRET=1`` (set by the runtime when there is no GPU) makes the same kernels run on the
CPU, which is how CI tests code generation.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import importlib.util
import logging
import math
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any


def cache_dir() -> Path:
    root = os.environ.get("TRITIUM_CACHE_DIR") or os.path.join(
        tempfile.gettempdir(), f"tritium-{os.getuid()}"
    )
    path = Path(root) / "kernels"
    path.mkdir(parents=True, exist_ok=True)
    return path


def use_interpreter() -> bool:
    """True when kernels must run under Triton's CPU interpreter (no CUDA device)."""
    if os.environ.get("TRITON_INTERPRET") == "1":
        return True
    try:
        import torch

        return not torch.cuda.is_available()
    except ImportError:
        return True


def ensure_mode() -> None:
    """Set TRITON_INTERPRET when there is no GPU. Must run before the first ``import triton``: Triton
    decides at import whether its own library functions (tl.sum, ...) are interpreted. When some
    other library imported Triton first, say so instead of failing inside a kernel."""
    if not use_interpreter():
        return
    os.environ["TRITON_INTERPRET"] = "1"
    standard = sys.modules.get("triton.language.standard")
    if standard is not None and any(type(v).__name__ == "JITFunction" for v in vars(standard).values()):
        from tritium.ir.diagnostics import TritiumError

        raise TritiumError(
            "Triton was imported (by another library) before Tritium chose its CPU interpreter (there is "
            "no GPU), so Triton's own functions are compiled for a GPU: set TRITON_INTERPRET=1 in the "
            "environment, or import tritium and compile before that library imports Triton"
        )


def kernel_code(source: str) -> str:
    """A generated kernel's code: its source from the ``import triton`` line on. What comes before is
    the header comment showing the IR, with the model's tensor names, which does not change what the
    kernel computes. (Split at that line, never by parsing comments: the IR text is user data.)"""
    i = source.find("\nimport triton\n")
    return source[i + 1 :] if i >= 0 else source


def source_hash(source: str) -> str:
    """A hash of a generated kernel's code: the same code in every layer of a network is one module
    and one compile per config (shapes passed at run time share it). Tuning choices are keyed by
    ``kernel_identity``, which also holds the shapes, types and attributes."""
    return hashlib.sha256(kernel_code(source).encode()).hexdigest()[:20]


def kernel_identity(kernel: Any) -> str:
    """What a tuning choice is for: the kernel's code and its IR with every value numbered (shapes,
    dtypes, attributes such as ``is_causal``; no tensor names, no locations). Every layer's copy of
    a kernel at the same shapes has one identity, so it is tuned once. Kernels without IR: their
    code's hash. A kernel whose configs may also run code outside its source (the attention's
    hand-written Gluon kernel) adds that code's identity (``identity_extra``)."""
    cached = getattr(kernel, "_identity", None)
    if cached is not None:
        return str(cached)
    fused = getattr(kernel, "fused", None)
    if fused is None:
        return source_hash(kernel.source)
    from tritium.ir.printer import Printer

    p = Printer(print_locs=False, hints=False)
    for i, v in enumerate(fused.operands):
        p.scopes[-1].names[v] = f"in{i}"
    text = kernel_code(kernel.source) + "\n" + p.op_text(fused)
    extra = kernel.identity_extra() if hasattr(kernel, "identity_extra") else ""
    if extra:
        text += "\n" + extra
    ident = hashlib.sha256(text.encode()).hexdigest()[:20]
    kernel._identity = ident
    return ident


_loaded: dict[str, ModuleType] = {}
_load_lock = threading.Lock()


def load_source(source: str, stem: str) -> ModuleType:
    """Import the code of ``source`` as a module (cached by it; safe from several threads)."""
    ensure_mode()
    with _load_lock:
        return _load(source, stem)


def _patch_interpreter_floats() -> None:
    """Make the CPU interpreter convert to and from float 8 (e4m3fn, e5m2) and bfloat16 as the GPU
    does.

    Triton's interpreter converts floats by bit arithmetic (``interpreter._convert_float``) that
    rounds a carry out of the mantissa wrongly (-31.3 to e4m3 gives -16, not -32), reads e4m3's NaN
    as 480 and e5m2's infinities and NaNs as numbers, truncates float32 to bfloat16 (the GPU rounds
    to nearest even, so results came out an ulp low half of the time) and misreads subnormal
    bfloat16s. On the GPU (sm_89 and later) the float 8 conversion is the ``cvt.rn.satfinite``
    instruction: round to nearest even, out-of-range values and infinities clamped to the largest
    finite value, NaN kept; bfloat16's is ``cvt.rn.bf16``. Those semantics, by ml_dtypes, replace
    the interpreter's for these types (a conversion to bfloat16 asking to round toward zero, and the
    other types, keep Triton's function). Casts the interpreter does not route through this function
    (float64 or integers straight to bfloat16) stay wrong there; generated kernels go through
    float32."""
    import ml_dtypes
    import numpy as np
    import triton.language as tl
    from triton.runtime import interpreter

    original = getattr(interpreter, "_convert_float", None)
    if original is None or getattr(original, "_tritium", False):
        return
    narrow = {  # what Triton's function gets wrong
        tl.float8e4nv: ml_dtypes.float8_e4m3fn,
        tl.float8e5: ml_dtypes.float8_e5m2,
        tl.bfloat16: ml_dtypes.bfloat16,
    }
    floats = {tl.float16: np.float16, tl.float32: np.float32, tl.float64: np.float64, **narrow}
    bits = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}

    def convert(data: Any, src: Any, dst: Any, rounding: Any) -> Any:
        bf16_toward_zero = dst == tl.bfloat16 and rounding is not None and "RTZ" in str(rounding)
        ours = src != dst and src in floats and dst in floats and (src in narrow or dst in narrow)
        if not ours or bf16_toward_zero:
            return original(data, src, dst, rounding)
        x = np.ascontiguousarray(data).view(floats[src])
        if dst in narrow and dst != tl.bfloat16:  # float 8: saturating
            top = float(ml_dtypes.finfo(narrow[dst]).max)
            y = np.clip(x.astype(np.float64), -top, top).astype(narrow[dst])  # NaN stays NaN
        else:
            y = x.astype(floats[dst])
        return y.view(bits[y.dtype.itemsize]).reshape(np.shape(data))

    convert._tritium = True  # type: ignore[attr-defined]
    interpreter._convert_float = convert


def _load(source: str, stem: str) -> ModuleType:
    if os.environ.get("TRITON_INTERPRET") == "1":
        _patch_interpreter_floats()
    key = f"{stem}_{source_hash(source)}"
    mod = _loaded.get(key)
    if mod is not None:
        return mod
    path = cache_dir() / f"{key}.py"
    # The file holds the code alone, the same text for every layer's copy and in every process:
    # Triton keys its compiled kernels by a function's text and starting line.
    header = f"# Tritium kernel {stem}: `tritium inspect --kernel` shows the IR it implements\n"
    code = header + kernel_code(source)
    if not path.exists() or path.read_text() != code:
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(code)
        os.replace(tmp, path)
    spec = importlib.util.spec_from_file_location(f"tritium_kernels.{key}", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    _loaded[key] = mod
    return mod


def loaded_modules(sources: list[str]) -> dict[str, ModuleType]:
    """The imported modules of these generated sources, by source hash (to harvest binaries)."""
    hashes = {source_hash(s) for s in sources}
    with _load_lock:
        return {k.rsplit("_", 1)[-1]: m for k, m in _loaded.items() if k.rsplit("_", 1)[-1] in hashes}


_warm_ups: dict[str, threading.Thread] = {}
_warm_lock = threading.Lock()


def _triton_setup() -> None:
    """Triton's hash of its own files, which keys every compiled-kernel lookup (cached by Triton),
    then its active driver and the driver's C utilities (built with gcc on a fresh machine)."""
    try:
        from triton.runtime.cache import triton_key
    except ImportError:
        try:
            from triton.compiler.compiler import triton_key
        except ImportError:
            triton_key = None
    with contextlib.suppress(Exception):  # an unfamiliar Triton: the first compile does this itself
        if triton_key is not None:
            triton_key()
    with contextlib.suppress(Exception):  # the first launch does this itself
        from triton.runtime.driver import driver

        driver.active.utils  # noqa: B018


def _library_setup(device: Any) -> None:
    """cuDNN and cuBLAS load their libraries and make their handles on first use (about 0.2 s). On a
    stream of its own, synchronizing only that stream (another thread may be capturing a graph)."""
    try:
        import torch

        stream = torch.cuda.Stream(device=device)
        with torch.cuda.stream(stream):
            x = torch.ones(1, 1, 4, 4, device=device, dtype=torch.float16)
            torch.nn.functional.conv2d(x, x[:, :, :3, :3])
            torch.mm(x[0, 0], x[0, 0])
        stream.synchronize()
    except Exception:  # the tactic reports its own errors when it runs
        pass


def in_background(name: str, job: Callable[[], None]) -> None:
    """Run ``job`` once per process on a daemon thread named ``name``; ``wait_for_warm_up`` joins
    the ones that compiling threads would otherwise redo (all but "libraries-*")."""
    with _warm_lock:
        if name not in _warm_ups:
            _warm_ups[name] = threading.Thread(target=job, name=f"tritium-warm-up-{name}", daemon=True)
            _warm_ups[name].start()


def warm_up(libraries_on: Any = None) -> None:
    """Start once-per-process setup on daemon threads (on the GPU; each once), so that loading a plan
    and generating its kernels proceed meanwhile: Triton's hash of its own files that keys every
    compiled-kernel lookup (about 0.3 s) and its driver's C utilities (a gcc build on a fresh
    machine); with ``libraries_on`` (a CUDA device), cuDNN and cuBLAS there (a plan whose tuning
    picked library tactics)."""
    if use_interpreter():
        return
    # One thread does all of Triton's setup, in this order: with the key hash and the driver's
    # creation on two threads (run J, Triton 3.6), every fresh load then failed: launchers rejected
    # the TMA descriptors of a second PyCUtensorMap type. Nothing else touches the driver until
    # this job is done (launcher prebuilds, precompile and tuning wait for it).
    in_background("triton", _triton_setup)
    if libraries_on is not None:
        in_background(f"libraries-{libraries_on}", lambda: _library_setup(libraries_on))


def wait_for(name: str, timeout_s: float = 60.0) -> None:
    """Wait for the background job ``name`` (if started)."""
    t = _warm_ups.get(name)
    if t is not None and t is not threading.current_thread():
        t.join(timeout_s)
        if t.is_alive():
            logging.getLogger("tritium").warning(
                "%s still running after %.0f s; not waiting longer", t.name, timeout_s
            )


def wait_for_warm_up(timeout_s: float = 30.0) -> None:
    """Wait for the setup that ``warm_up`` and launcher prebuilds started, rather than have each
    compiling thread redo it (a launcher that two threads miss is built twice)."""
    with _warm_lock:
        names = [name for name in _warm_ups if not name.startswith("libraries")]
    for name in names:
        wait_for(name, timeout_s)


@lru_cache(maxsize=1)
def triton_version() -> str:
    ensure_mode()  # importing triton decides interpreter mode for its own jit functions
    import triton

    return str(triton.__version__)


@lru_cache(maxsize=1)
def features() -> dict[str, Any]:
    """What this Triton offers (3.6 on the GPU machine, newer here): checked, never assumed."""
    ensure_mode()
    import triton.language as tl

    return {
        "erf": hasattr(tl, "erf") or hasattr(tl.math, "erf"),
        "tanh": hasattr(tl, "tanh"),
        "sigmoid": hasattr(tl, "sigmoid"),
    }


@lru_cache(maxsize=1)
def tma_available() -> bool:
    """Whether GEMMs may load tiles by tensor descriptors: a Hopper-or-newer GPU (not the
    interpreter) and a Triton with host-side descriptors (3.4 and later)."""
    if use_interpreter():
        return False
    try:
        import torch
        from triton.tools.tensor_descriptor import TensorDescriptor  # noqa: F401
    except ImportError:
        return False
    return bool(torch.cuda.is_available() and torch.cuda.get_device_capability()[0] >= 9)


@lru_cache(maxsize=1)
def persistent_available() -> bool:
    """Whether the GEMM's persistent TMA variant may compete: TMA, and a ``tl.range`` that flattens
    nested loops (so the pipeliner overlaps one tile's epilogue with the next tile's loads) and
    can warp-specialize them (loads and MMA in separate warps)."""
    if not tma_available():
        return False
    import inspect

    import triton.language as tl

    return {"flatten", "warp_specialize"} <= set(inspect.signature(tl.range.__init__).parameters)


@lru_cache(maxsize=1)
def maxnreg_available() -> bool:
    """Whether a launch may cap the registers per thread (Triton's ``maxnreg`` option, PTX's
    ``.maxnreg``) on a CUDA GPU: the cap decides how many programs share an SM."""
    if use_interpreter():
        return False
    try:
        from triton.backends.nvidia.compiler import CUDAOptions
    except ImportError:
        return False
    return "maxnreg" in getattr(CUDAOptions, "__dataclass_fields__", {})


def register_cap(config: dict[str, Any]) -> dict[str, Any]:
    """The launch option of a config's register cap (``maxnreg``), where it has one and it applies."""
    cap = config.get("maxnreg")
    return {"maxnreg": cap} if cap and maxnreg_available() else {}


@lru_cache(maxsize=1)
def pdl_available() -> bool:
    """Whether kernels launch with programmatic dependent launch: a Hopper-or-newer GPU and a Triton
    with grid dependency control (``gdc_wait``) and the ``launch_pdl`` option. TRITIUM_PDL=0 turns
    it off."""
    if use_interpreter() or os.environ.get("TRITIUM_PDL", "1") == "0" or not tma_available():
        return False
    try:
        import triton.language.extra.cuda as cuda
        from triton.backends.nvidia.compiler import CUDAOptions
    except ImportError:
        return False
    return hasattr(cuda, "gdc_wait") and "launch_pdl" in getattr(CUDAOptions, "__dataclass_fields__", {})


def pdl_kwargs(grid: tuple[int, ...]) -> dict[str, Any]:
    """What the launch of a generated kernel over ``grid`` adds: Triton's ``launch_pdl`` and the
    kernel's ``PDL`` flag, 1 (its programs wait for the previous kernel's writes with ``gdc_wait``;
    the next kernel launches as this one ends) or 2 for a grid of at most one program per SM (its
    programs also let the next kernel launch at once: its programs are resident and waiting when
    this one ends). A dependent grid launches once every program of this one has triggered or
    exited, which for a grid of several waves an early trigger makes the start of its last wave.
    Measured on an H200: batch 1 5-10% faster with the early trigger than without any; BERT and
    ResNet-50 at batch 32 and 1 within 1% of triggering early everywhere (RESULTS.md). Nothing where
    programmatic dependent launch is unavailable (the flag defaults to 0, off).
    TRITIUM_PDL_TRIGGER=start or =exit makes every grid trigger early or at its end (the A/B
    experiment of RESULTS.md)."""
    if not pdl_available():
        return _PDL_OFF
    trigger = os.environ.get("TRITIUM_PDL_TRIGGER", "")
    programs = math.prod(grid)
    early = trigger == "start" or (trigger != "exit" and programs <= sm_count())
    return _PDL_EARLY if early else _PDL_AT_EXIT


_PDL_EARLY, _PDL_AT_EXIT = {"PDL": 2, "launch_pdl": True}, {"PDL": 1, "launch_pdl": True}
_PDL_OFF: dict[str, Any] = {}  # (these dicts are unpacked by the launches, never changed)


CONSTEXPR_FAMILIES = ("gemm", "conv", "attention")
CONSTEXPR_DEFAULT = ("attention",)
"""Attention's sizes are constants by default (for engines of static shapes): on an H100 (twenty-
fourth session) its kernels ran 0-17% faster so at batch 32 (sequence 512: 0.0830 -> 0.0741 ms),
BERT and GPT-2 1-2% faster in one A/B at batch 1 and 32 (BERT within noise in another). GEMM and
convolution stay off: ResNet-50 was no faster with them, MobileNetV2 0.7% slower."""


_SHAPES_VARY = contextvars.ContextVar("tritium_shapes_vary", default=False)


@contextlib.contextmanager
def shapes_vary(vary: bool) -> Iterator[None]:
    """Kernels formed inside are for one of many input shapes (an engine with dynamic inputs builds a
    program per shape): constant sizes would compile a binary per distinct shape there, so only
    families that ``TRITIUM_CONSTEXPR_SIZES`` names explicitly get them, not the default ones."""
    token = _SHAPES_VARY.set(vary)
    try:
        yield
    finally:
        _SHAPES_VARY.reset(token)


def constexpr_sizes(family: str) -> bool:
    """Whether the kernels of ``family`` take their static sizes as compile-time constants: those
    that ``TRITIUM_CONSTEXPR_SIZES`` lists (comma-separated families, "all", or "none"; unset:
    ``CONSTEXPR_DEFAULT``). Triton then knows the loops' trip counts and which masks are all true,
    and compiles one binary per distinct size. GEMM: a K of at most ``gemm_forms.STATIC_K_MAX``
    (the chain's first product's too); convolution: the window (its reduction length, channels per
    group, height and width); attention: the sequence lengths and head counts. The default
    families are not constants inside ``shapes_vary(True)``."""
    listed = {f.strip() for f in os.environ.get("TRITIUM_CONSTEXPR_SIZES", "").split(",") if f.strip()}
    unknown = listed - {*CONSTEXPR_FAMILIES, "all", "none"}
    if unknown:
        raise ValueError(
            f"TRITIUM_CONSTEXPR_SIZES names {', '.join(sorted(unknown))}: expected kernel families "
            f"from {', '.join(CONSTEXPR_FAMILIES)} separated by commas, or all, or none"
        )
    if "none" in listed and len(listed) > 1:
        raise ValueError(
            f"TRITIUM_CONSTEXPR_SIZES combines none with {', '.join(sorted(listed - {'none'}))}: none "
            "turns every family off and stands alone"
        )
    if not listed:
        return family in CONSTEXPR_DEFAULT and not _SHAPES_VARY.get()
    return family in listed or "all" in listed


@lru_cache(maxsize=1)
def sm_count() -> int:
    """Programs of a persistent kernel: the GPU's multiprocessors (4 under the interpreter, which
    runs programs one after another: enough for each to step through several tiles in tests)."""
    if use_interpreter():
        return 4
    import torch

    return int(torch.cuda.get_device_properties(torch.cuda.current_device()).multi_processor_count)
