"""Compiled kernel binaries for plans: harvest them from Triton's cache, restore them into it.

After an engine has run on the GPU, each generated kernel's Triton JIT function holds the compiled
variants it launched (one per config and specialization). Each variant is a group of files in
Triton's cache directory named by its cache key (the hash of the kernel source, the compile options
and the toolchain): the metadata JSON, the cubin and the intermediate IRs. A plan can carry these
groups; loading it on the same GPU with the same Triton writes them back into the cache, so the
kernels that codegen regenerates from the IR hit the cache instead of compiling. Nothing is
imported or executed from the plan on the host: the files are data that Triton itself looks up by
the key it computes from the regenerated source. A key that this Triton would not compute is never
looked up, so a foreign or stale binary is simply unused.

A cubin is still code that runs on the GPU, so restoring is opt-in (``tritium.load(path,
trust_binaries=True)``, ``Runtime.trust_binaries``), as loading a TensorRT engine means trusting it.
Only Triton's kernel artifacts are accepted (metadata JSON, cubin, PTX and IR text: never a shared
library such as Triton's launcher), and nothing already in the cache is overwritten.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import threading
from collections.abc import Iterable
from types import ModuleType
from typing import Any

log = logging.getLogger("tritium")
_NAME = re.compile(r"^[A-Za-z0-9_-]{8,128}/[A-Za-z0-9_.-]{1,200}$")
KERNEL_FILES = (".json", ".cubin", ".ptx", ".ttir", ".ttgir", ".llir", ".source")
"""The file types of a compiled kernel group; anything else in a plan (a .so above all) is ignored."""


def _acceptable(key: str) -> bool:
    name = key.split("/", 1)[-1]
    return bool(_NAME.match(key)) and ".." not in key and name.endswith(KERNEL_FILES)


def _compiled_kernels(module: ModuleType) -> Iterable[Any]:
    """The compiled variants held by the JIT functions of a generated kernel module."""
    try:
        from triton.runtime.jit import JITFunction
    except ImportError:
        return
    for fn in list(vars(module).values()):
        if not isinstance(fn, JITFunction):
            continue
        caches = getattr(fn, "device_caches", None) or getattr(fn, "cache", None) or {}
        for entry in list(caches.values()):
            table = entry[0] if isinstance(entry, tuple) else entry
            if isinstance(table, dict):
                for ck in list(table.values()):
                    if hasattr(ck, "metadata_group") and hasattr(ck, "hash"):
                        yield ck


Configs = list[dict[str, int] | None]
"""The configs a kernel module runs with (one per layer and shape; None: its heuristic default)."""


def _matches(ck: Any, configs: Configs) -> bool:
    """Whether a compiled variant was built with one of ``configs``. Unknown (an unfamiliar Triton, a
    layer without a tuned config) counts as a match: keep the variant."""
    if not configs or any(not c for c in configs):
        return True
    return any(_built_with(ck, c) for c in configs if c)


CONSTEXPR_DEFAULTS = {"SPLIT_K": 1}
"""Constexprs a chosen config may leave out: a variant built with another value was a tuning
candidate (the split-K forms)."""


def _built_with(ck: Any, config: dict[str, int]) -> bool:
    """Whether a compiled variant was built with ``config`` (tile constexprs, warps, stages)."""
    if config.get("GLUON"):  # the hand-written Hopper attention (attention_gluon): no generated variant
        return False
    config = {**CONSTEXPR_DEFAULTS, **config}
    meta = getattr(ck, "metadata", None)
    for key in ("num_warps", "num_stages"):
        if key in config and getattr(meta, key, config[key]) != config[key]:
            return False
    src = getattr(ck, "src", None)
    constants = getattr(src, "constants", None)
    names = getattr(getattr(src, "fn", None), "arg_names", None)
    if not isinstance(constants, dict) or not names:
        return True
    for key, value in config.items():
        if key in ("num_warps", "num_stages") or key not in names:
            continue
        i = names.index(key)
        got = constants.get((i,), constants.get(i, constants.get(key, value)))
        if got != value:
            return False
    return True


def harvest(modules: Iterable[tuple[ModuleType, Configs]], limit_bytes: int = 512 << 20) -> dict[str, bytes]:
    """``{"<cache key>/<file name>": bytes}`` for the compiled variants of these kernel modules that
    were built with one of each one's chosen configs (the variants timed during tuning stay out)."""
    from pathlib import Path

    out: dict[str, bytes] = {}
    total = 0
    for mod, configs in modules:
        for ck in _compiled_kernels(mod):
            if not _matches(ck, configs):
                continue
            for fname, path in dict(ck.metadata_group).items():
                key = f"{ck.hash}/{fname}"
                if key in out or not _acceptable(key):
                    continue
                data = Path(path).read_bytes()
                total += len(data)
                if total > limit_bytes:
                    return out
                out[key] = data
    return out


def restore(binaries: dict[str, bytes]) -> int:
    """Write harvested groups into this process's Triton cache; returns how many groups were written.
    Names are checked (no paths); groups already cached are left alone."""
    try:
        from triton.runtime.cache import get_cache_manager
    except ImportError:
        return 0
    groups: dict[str, dict[str, bytes]] = {}
    for key, data in binaries.items():
        if not _acceptable(key):
            continue
        h, fname = key.split("/", 1)
        groups.setdefault(h, {})[fname] = data
    written = 0
    for h, files in groups.items():
        meta = [f for f in files if f.endswith(".json") and not f.startswith("__grp__")]
        if len(meta) != 1:
            continue
        mgr = get_cache_manager(h)
        if mgr.get_group(meta[0]) is not None or any(
            mgr.get_file(f) is not None for f in files if not f.startswith("__grp__")
        ):
            continue  # never overwrite what the cache holds
        paths = {
            fname: mgr.put(data, fname, binary=True)
            for fname, data in files.items()
            if not fname.startswith("__grp__")
        }
        mgr.put_group(meta[0], paths)
        written += 1
    return written


# -- Triton's C launchers --------------------------------------------------------------------------
# Triton 3.6 (on NVIDIA) builds a small C extension per kernel signature with gcc, the first time a
# kernel of that signature launches in a machine's cache: about 0.3 s each, ten for ResNet-50, on
# the critical path of a fresh machine's first inference. A plan never carries such a library (host
# code); it carries each launcher's *signature*, as data, and a trusted load builds the launchers from it
# with Triton's own generator, in the background while the plan loads. Triton then finds them in
# its cache. A signature this Triton would not generate is simply a launcher nobody uses; a Triton
# without per-signature launchers (3.7 and later) skips all of it.

MAX_LAUNCHERS = 64
"""At most this many signatures are taken from one plan (ResNet-50's give 11 distinct launchers)."""
MAX_ARGS = 96
"""At most this many arguments per signature (Tritium's kernels have a few dozen)."""
PARALLEL_BUILDS = 12
# Triton's type strings; a tensor descriptor of at most five dimensions (what TMA takes), no layout
_TYPE = re.compile(
    r"^(\*?k?[a-z][a-z0-9]{0,12}|constexpr|nvTmaDesc|tensordesc<[a-z0-9]{1,8}\[\d{1,5}(, ?\d{1,5}){0,4}\]>)$"
)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def _plain(x: Any, depth: int = 0) -> bool:
    """Numbers, booleans and None, in lists and in dicts with identifier keys, of bounded size and
    depth: what a launcher signature's metadata may hold (no strings, which could reach C text)."""
    if x is None or isinstance(x, bool | int | float):
        return True
    if depth < 4 and isinstance(x, list):
        return len(x) <= 64 and all(_plain(v, depth + 1) for v in x)
    if depth < 4 and isinstance(x, dict):
        return len(x) <= 64 and all(
            isinstance(k, str) and _IDENT.match(k) and _plain(v, depth + 1) for k, v in x.items()
        )
    return False


def valid_launcher(entry: Any) -> bool:
    """Whether ``entry`` is a well-formed launcher signature (names, Triton type strings, constant
    indices and plain values): anything else in a plan is ignored."""
    try:
        sig, consts, meta = entry["signature"], entry["constants"], entry.get("tensordesc_meta")
        return (
            isinstance(sig, list)
            and 0 < len(sig) <= MAX_ARGS
            and all(_IDENT.match(n) and _TYPE.match(t) for n, t in sig)
            and isinstance(consts, list)
            and len(consts) <= 256
            and all(
                isinstance(i, list) and 0 < len(i) <= 4 and all(type(j) is int and 0 <= j < 256 for j in i)
                for i, _ in consts
            )
            and all(_plain(v) and not isinstance(v, list | dict) for _, v in consts)
            and (meta is None or (isinstance(meta, list) and _plain(meta)))
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return False


def launcher_signatures(modules: Iterable[tuple[ModuleType, Configs]]) -> list[dict[str, Any]]:
    """The distinct launcher signatures of the compiled variants that ``harvest`` keeps, as data:
    the kernel's signature (argument names and types, in order), its constants by argument index,
    and its tensor-descriptor metadata: what Triton's driver generates a launcher from."""
    out: dict[str, dict[str, Any]] = {}
    for mod, configs in modules:
        for ck in _compiled_kernels(mod):
            src = getattr(ck, "src", None)
            names = getattr(getattr(src, "fn", None), "arg_names", None)
            sig, consts = getattr(src, "signature", None), getattr(src, "constants", None)
            if (
                not _matches(ck, configs)
                or not isinstance(sig, dict)
                or not isinstance(consts, dict)
                or not names
            ):
                continue
            try:
                entry = {
                    "signature": [[str(n), str(t)] for n, t in sig.items()],
                    "constants": [
                        [[names.index(i)] if isinstance(i, str) else list(i), v] for i, v in consts.items()
                    ],
                    "tensordesc_meta": getattr(getattr(ck, "metadata", None), "tensordesc_meta", None),
                }
            except (ValueError, TypeError):
                continue
            if valid_launcher(entry):
                out.setdefault(json.dumps(entry, sort_keys=True), entry)
    return list(out.values())


def prebuild_launchers(entries: Iterable[Any], driver: Any = None) -> int:
    """Start building Triton's launchers for these signatures (invalid ones skipped) on a background
    job (``wait_for_warm_up`` waits for it), once Triton's driver is set up: each distinct launcher
    source once (variants that differ only in constants share one), ``PARALLEL_BUILDS`` at a time.
    Returns how many signatures it took: 0 where this Triton's driver has no per-signature
    launchers. ``driver``: Triton's NVIDIA driver module (tests pass a stand-in)."""
    from tritium.codegen.triton_env import in_background, use_interpreter, wait_for

    if driver is None:
        if use_interpreter():
            return 0
        try:
            from triton.backends.nvidia import driver
        except ImportError:
            return 0
    make = getattr(driver, "make_launcher", None)
    build = getattr(driver, "compile_module_from_src", None)
    library_dirs = getattr(driver, "library_dirs", None)
    include_dirs = getattr(driver, "include_dirs", None)
    libraries = getattr(driver, "libraries", None)
    if not (callable(make) and callable(build) and callable(library_dirs)) or include_dirs is None:
        return 0
    todo = [e for e in list(entries)[:MAX_LAUNCHERS] if valid_launcher(e)]
    if not todo:
        return 0

    def source(entry: dict[str, Any]) -> str | None:
        try:
            signature = dict((n, t) for n, t in entry["signature"])
            constants = {tuple(i): v for i, v in entry["constants"]}
            return str(make(constants, signature, entry.get("tensordesc_meta")))
        except Exception:  # Triton builds it itself when the kernel first launches
            return None

    def compile_one(src: str) -> None:
        with contextlib.suppress(Exception):  # Triton builds it itself when the kernel first launches
            build(
                src=src,
                name="__triton_launcher",
                library_dirs=library_dirs(),
                include_dirs=include_dirs,
                libraries=libraries,
            )

    def run() -> None:
        # Only once Triton's driver exists: a launcher reads the driver's tensor-map type when first
        # loaded, and one loaded before keeps None, so TMA kernels of its signature would fail.
        wait_for("triton")
        if getattr(driver, "PyCUtensorMap", True) is None:
            log.debug("Triton's driver is not set up: its launchers are left to Triton")
            return
        sources = list(dict.fromkeys(s for s in map(source, todo) if s is not None))
        if not sources:
            log.debug("no launcher source could be generated from the plan's %d signatures", len(todo))
        for i in range(0, len(sources), PARALLEL_BUILDS):  # daemon threads: exit never waits on gcc
            batch = [
                threading.Thread(target=compile_one, args=(src,), daemon=True)
                for src in sources[i : i + PARALLEL_BUILDS]
            ]
            for t in batch:
                t.start()
            for t in batch:
                t.join()

    key = hashlib.sha256(json.dumps(todo, sort_keys=True).encode()).hexdigest()[:16]
    in_background(f"launchers-{key}", run)
    return len(todo)
