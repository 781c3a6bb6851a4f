"""What the build/run/bench/compare/inspect commands share: trtexec-style shape arguments, and
getting an engine from a plan or an ONNX model."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import numpy as np

from tritium.ir.diagnostics import TritiumError

_SHAPE = re.compile(r"^(?P<name>.+):(?P<dims>\d+(x\d+)*)$")


def parse_shapes(text: str | None, flag: str = "--shapes") -> dict[str, tuple[int, ...]]:
    """``name:1x3x224x224,other:1x128`` -> {name: (1, 3, 224, 224), other: (1, 128)}."""
    out: dict[str, tuple[int, ...]] = {}
    if not text:
        return out
    for item in text.split(","):
        m = _SHAPE.match(item.strip())
        if m is None:
            raise TritiumError(f"{flag}: '{item}' is not NAME:DxDx...D (e.g. input:1x3x224x224)")
        out[m["name"]] = tuple(int(d) for d in m["dims"].split("x"))
    return out


def parse_tactic_sources(text: str, mask: int) -> int:
    """trtexec's ``--tacticSources``: ``-CUDNN,+CUBLAS`` edits the bit mask ``mask``."""
    import tritium as tr

    for item in text.split(","):
        item = item.strip()
        name = item[1:].upper()
        if item[:1] not in "+-" or not item or name not in tr.TacticSource.__members__:
            raise TritiumError(
                f"--tacticSources: '{item}' is not +NAME or -NAME with NAME one of "
                f"{', '.join(tr.TacticSource.__members__)}"
            )
        bit = 1 << int(tr.TacticSource[name])
        mask = mask | bit if item[0] == "+" else mask & ~bit
    return mask


def add_shape_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shapes", default=None, help="input shapes, e.g. input:1x3x224x224 (comma separated)")


def add_build_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fp16", action="store_true", help="allow FP16 computation (FP32 accumulation)")
    p.add_argument("--bf16", action="store_true", help="allow BF16 computation")
    p.add_argument("--minShapes", default=None, help="optimization profile minimum shapes")
    p.add_argument("--optShapes", default=None, help="optimization profile shapes to tune at")
    p.add_argument("--maxShapes", default=None, help="optimization profile maximum shapes")
    p.add_argument("--timingCacheFile", default=None, help="timing cache to read and update")
    p.add_argument(
        "--builderOptimizationLevel", type=int, default=3, help="0 (fast build) .. 5 (deepest search)"
    )
    p.add_argument(
        "--tacticSources",
        default=None,
        help="add (+) or remove (-) tactic sources from the default (all), e.g. -CUDNN,-CUBLAS,-CUBLAS_LT "
        "(cuBLAS competes while either CUBLAS or CUBLAS_LT is on)",
    )
    p.add_argument("--refit", action="store_true", help="build a refittable engine")
    p.add_argument("--verbose", action="store_true", help="log everything the builder says")


def build_from_onnx(path: str, args: argparse.Namespace) -> Any:
    """Parse ``path`` and build an engine as ``tritium build`` does (TensorRT's API underneath)."""
    import tritium as tr

    logger = tr.Logger(tr.Logger.VERBOSE if getattr(args, "verbose", False) else tr.Logger.WARNING)
    builder = tr.Builder(logger)
    network = builder.create_network()
    parser = tr.OnnxParser(network, logger)
    if not Path(path).is_file():
        raise TritiumError(f"{path}: no such ONNX file")
    if not parser.parse_from_file(path):
        errors = "\n  ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise TritiumError(f"{path}: the ONNX parser reported {parser.num_errors} error(s):\n  {errors}")
    config = builder.create_builder_config()
    if args.fp16:
        config.set_flag(tr.BuilderFlag.FP16)
    if args.bf16:
        config.set_flag(tr.BuilderFlag.BF16)
    if getattr(args, "refit", False):
        config.set_flag(tr.BuilderFlag.REFIT)
    config.builder_optimization_level = args.builderOptimizationLevel
    if getattr(args, "tacticSources", None):
        config.set_tactic_sources(parse_tactic_sources(args.tacticSources, config.get_tactic_sources()))
    shapes = parse_shapes(getattr(args, "shapes", None))
    lo = parse_shapes(args.minShapes, "--minShapes") or shapes
    opt = parse_shapes(args.optShapes, "--optShapes") or shapes
    hi = parse_shapes(args.maxShapes, "--maxShapes") or shapes
    names = set(lo) | set(opt) | set(hi)
    if names:
        profile = builder.create_optimization_profile()
        for n in sorted(names):
            if not (n in lo and n in opt and n in hi):
                raise TritiumError(f"input '{n}': give its min, opt and max shapes (or --shapes)")
            profile.set_shape(n, lo[n], opt[n], hi[n])
        config.add_optimization_profile(profile)
    cache = None
    if args.timingCacheFile and Path(args.timingCacheFile).is_file():
        cache = config.create_timing_cache(Path(args.timingCacheFile).read_bytes())
    elif args.timingCacheFile:
        cache = config.create_timing_cache(b"")
    if cache is not None:
        config.set_timing_cache(cache, False)
    engine = builder.build_engine_with_config(network, config)
    if args.timingCacheFile and cache is not None:
        Path(args.timingCacheFile).write_bytes(cache.serialize())
    return engine


def load_engine(args: argparse.Namespace) -> Any:
    """From ``--loadEngine PLAN`` or ``--onnx MODEL`` (built on the spot)."""
    import tritium as tr

    if getattr(args, "loadEngine", None):
        return tr.load(args.loadEngine)
    if getattr(args, "onnx", None):
        return build_from_onnx(args.onnx, args)
    raise TritiumError("give --loadEngine PLAN or --onnx MODEL")


def input_shapes(engine: Any, shapes: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """Every input's shape: given, static, or the opt shape of the first profile."""
    unknown = sorted(set(shapes) - set(engine.input_names))
    if unknown:
        raise TritiumError(
            f"--shapes names {unknown}, which are not inputs of the engine {engine.input_names}"
        )
    out = {}
    for n in engine.input_names:
        if n in shapes:
            out[n] = shapes[n]
            continue
        try:
            out[n] = tuple(engine.get_tensor_profile_shape(n, 0)[1])
        except KeyError:
            raise TritiumError(f"input '{n}' is dynamic: give its shape with --shapes {n}:...") from None
    return out


def random_inputs(engine: Any, shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for n, shape in shapes.items():
        dt = engine.get_tensor_dtype(n).dtype.np_dtype
        if np.issubdtype(dt, np.floating):
            out[n] = rng.standard_normal(shape).astype(dt)
        elif dt == np.bool_:
            out[n] = rng.integers(0, 2, shape).astype(bool)
        else:
            out[n] = rng.integers(0, 2, shape).astype(dt)  # ids and masks: small valid values
    return out


def load_inputs(spec: str | None) -> dict[str, np.ndarray]:
    """``--loadInputs name:file.npy,other:file2.npy``."""
    out: dict[str, np.ndarray] = {}
    for item in (spec or "").split(","):
        if not item.strip():
            continue
        name, sep, file = item.strip().rpartition(":")
        if not sep or not name:
            raise TritiumError(f"--loadInputs: '{item}' is not NAME:FILE.npy")
        if not Path(file).is_file():
            raise TritiumError(f"--loadInputs: {file}: no such file")
        out[name] = np.load(file, allow_pickle=False)
    return out
