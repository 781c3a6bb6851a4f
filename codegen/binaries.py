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

import re
from collections.abc import Iterable
from types import ModuleType
from typing import Any

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


def _matches(ck: Any, config: dict[str, int] | None) -> bool:
    """Whether a compiled variant was built with ``config`` (tile constexprs, warps, stages). Unknown
    (an unfamiliar Triton, or no tuned config) counts as a match: keep the variant."""
    if not config:
        return True
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


def harvest(
    modules: Iterable[tuple[ModuleType, dict[str, int] | None]], limit_bytes: int = 512 << 20
) -> dict[str, bytes]:
    """``{"<cache key>/<file name>": bytes}`` for the compiled variants of these kernel modules that
    were built with each one's chosen config (the variants timed during tuning stay out)."""
    from pathlib import Path

    out: dict[str, bytes] = {}
    total = 0
    for mod, config in modules:
        for ck in _compiled_kernels(mod):
            if not _matches(ck, config):
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
