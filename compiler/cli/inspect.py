"""Describe a model or an engine: I/O, ops and support; or layers, fused groups, kernels, memory.

Examples:
  tritium inspect model.onnx            # ONNX: I/O, opsets, ops (supported or not), weights
  tritium inspect model.onnx --json     # the same as JSON
  tritium inspect model.tir             # a module file: signature, op histogram, weights
  tritium inspect model.plan            # an engine: layers (fused ops, kernel, template, tuning
                                        # choice, precisions), activation memory, build environment
  tritium inspect model.onnx --engine   # build the ONNX model (add --fp16 ...) and show the engine
  tritium inspect model.plan --kernel all            # print the generated Triton source of every kernel
  tritium inspect model.plan --kernel LAYER          # ... or of one layer (or kernel name)
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path
from typing import Any

HELP = "describe a model (ONNX, .tir) or an engine (plan): I/O, ops, layers, kernels, memory"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from tritium.cli.common import add_build_arguments, add_shape_arguments

    p.add_argument("model", help="an .onnx model, a .tir module file or a plan")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--engine", action="store_true", help="for ONNX: build it and describe the engine")
    p.add_argument(
        "--kernel",
        default=None,
        help="print the Triton source of this layer's kernel (a layer or kernel name, or 'all')",
    )
    add_shape_arguments(p)
    add_build_arguments(p)


def _type_text(t: Any) -> str:
    return "?" if t is None else str(t)


def inspect_onnx(path: str) -> dict[str, Any]:
    import onnx

    from tritium.frontends.onnx import OnnxImportError, import_onnx
    from tritium.frontends.onnx.proto import load_model, type_from_proto
    from tritium.frontends.onnx.registry import lookup

    proto, _ = load_model(path)
    g = proto.graph
    opsets = {("ai.onnx" if not o.domain else o.domain): o.version for o in proto.opset_import}
    inits = {t.name for t in g.initializer}
    weight_bytes = sum(
        onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize * _numel(t.dims)
        for t in g.initializer
        if t.data_type != onnx.TensorProto.STRING
    )
    hist: collections.Counter[tuple[str, str]] = collections.Counter()
    for n in _all_nodes(g):
        hist[(n.domain, n.op_type)] += 1
    ops = []
    for (domain, op), count in sorted(hist.items(), key=lambda kv: (-kv[1], kv[0])):
        version = opsets.get(domain or "ai.onnx", 0)
        ops.append(
            {
                "op": op,
                "domain": domain or "ai.onnx",
                "count": count,
                "supported": lookup(domain, op, version) is not None,
            }
        )
    info: dict[str, Any] = {
        "file": path,
        "ir_version": proto.ir_version,
        "producer": f"{proto.producer_name} {proto.producer_version}".strip(),
        "opsets": opsets,
        "inputs": [
            {"name": vi.name, "type": _type_text(type_from_proto(vi.type, vi.name))}
            for vi in g.input
            if vi.name not in inits
        ],
        "outputs": [
            {"name": vi.name, "type": _type_text(type_from_proto(vi.type, vi.name))} for vi in g.output
        ],
        "nodes": sum(hist.values()),
        "initializers": len(g.initializer),
        "weight_bytes": weight_bytes,
        "ops": ops,
    }
    try:
        module = import_onnx(path)
        info["import"] = {"ok": True, "nn_ops": sum(1 for op in module.walk() if op.name.startswith("nn."))}
    except OnnxImportError as e:
        info["import"] = {"ok": False, "errors": [str(err) for err in e.errors]}
    return info


def _numel(dims: Any) -> int:
    n = 1
    for d in dims:
        n *= d
    return n


def _all_nodes(g: Any) -> list[Any]:
    import onnx

    out = []
    for n in g.node:
        out.append(n)
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                out += _all_nodes(a.g)
            elif a.type == onnx.AttributeProto.GRAPHS:
                for sub in a.graphs:
                    out += _all_nodes(sub)
    return out


def inspect_tir(path: str) -> dict[str, Any]:
    from tritium.ir.modulefile import load_module

    module = load_module(path)
    f = module.main
    hist = collections.Counter(op.name for op in module.walk() if op is not module and op.name != "func.func")
    return {
        "file": path,
        "inputs": [{"name": n, "type": str(t)} for n, t in zip(f.input_names or [], f.function_type.inputs)],
        "outputs": [
            {"name": n, "type": str(t)} for n, t in zip(f.output_names or [], f.function_type.outputs)
        ],
        "ops": [{"op": k, "count": v} for k, v in hist.most_common()],
        "weights": len(module.resources),
        "weight_bytes": sum(a.nbytes for a in module.resources.values()),
    }


def render(info: dict[str, Any]) -> str:
    lines = [f"model: {info['file']}"]
    if "opsets" in info:
        lines.append(
            f"producer: {info['producer'] or '-'}   ir_version: {info['ir_version']}   opsets: "
            + ", ".join(f"{d} {v}" for d, v in info["opsets"].items())
        )
    for kind in ("inputs", "outputs"):
        lines.append(f"{kind}:")
        lines += [f"  {io['name']}: {io['type']}" for io in info[kind]]
    n_weights = info.get("initializers", info.get("weights", 0))
    lines.append(f"weights: {n_weights} tensors, {info['weight_bytes'] / 1e6:.2f} MB")
    lines.append("ops:" if "nodes" not in info else f"ops ({info['nodes']} nodes):")
    for o in info["ops"]:
        mark = "" if "supported" not in o else ("  supported" if o["supported"] else "  NOT SUPPORTED")
        dom = "" if o.get("domain", "ai.onnx") == "ai.onnx" else f" [{o['domain']}]"
        lines.append(f"  {o['count']:6d}  {o['op']}{dom}{mark}")
    imp = info.get("import")
    if imp is not None:
        if imp["ok"]:
            lines.append(f"import: ok ({imp['nn_ops']} nn ops)")
        else:
            lines.append(f"import: {len(imp['errors'])} node(s) fail:")
            lines += [f"  {e}" for e in imp["errors"]]
    return "\n".join(lines)


def inspect_engine(engine: Any, path: str, shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
    from tritium.cli.common import input_shapes

    info = engine.inspect(input_shapes(engine, shapes))
    info["file"] = path
    info["profiles"] = engine.profiles
    info["refittable"] = engine.refittable
    return info


def render_engine(info: dict[str, Any]) -> str:
    build = info.get("build", {})
    lines = [f"engine: {info['file']}"]
    lines.append(
        f"built on: {build.get('gpu') or 'CPU'}  triton {build.get('triton')}  torch {build.get('torch')}  "
        f"tritium {build.get('tritium')}  flags {build.get('flags', {})}"
    )
    lines.append("inputs:  " + ", ".join(f"{n}: {t}" for n, t in info["inputs"].items()))
    lines.append("outputs: " + ", ".join(f"{n}: {t}" for n, t in info["outputs"].items()))
    for i, p in enumerate(info.get("profiles") or []):
        lines.append(
            f"profile {i}: "
            + ", ".join(f"{n} {list(m[0])}..{list(m[2])} (opt {list(m[1])})" for n, m in p.items())
        )
    lines.append(
        f"activation memory: {info['arena_bytes'] / 1e6:.2f} MB   refittable: {info.get('refittable', False)}"
    )
    layers = info["layers"]
    kinds = collections.Counter(layer["tactic"] for layer in layers)
    lines.append(f"layers: {len(layers)} (" + ", ".join(f"{v} {k}" for k, v in kinds.items()) + ")")
    for layer in layers:
        cfg = layer.get("config")
        cfg_text = " " + ",".join(f"{k}={v}" for k, v in cfg.items()) if cfg else ""
        dtypes = sorted({t.rsplit("x", 1)[-1].rstrip(">") for t in layer["outputs"]})
        lines.append(
            f"  {layer['name']:<40} {layer['kind']:<14} {layer['tactic']:<17} {'/'.join(dtypes):<5}"
            f" {'+'.join(o.split('.', 1)[-1] for o in layer['fused_ops'])}{cfg_text}"
        )
    return "\n".join(lines)


def kernel_sources(engine: Any, shapes: dict[str, tuple[int, ...]], which: str) -> str:
    from tritium.cli.common import input_shapes
    from tritium.ir.diagnostics import TritiumError

    prog = engine.program(input_shapes(engine, shapes))
    steps = [s for s in prog.steps if s.mode == "kernel"]
    if which != "all":
        steps = [s for s in steps if which in (s.name, s.kernel.name)]
        if not steps:
            names = sorted({s.kernel.name for s in prog.steps if s.mode == "kernel"})
            raise TritiumError(
                f"no layer or kernel named '{which}'; the engine's kernels are: {', '.join(names)}"
            )
    from tritium.codegen.triton_env import source_hash

    sources: dict[str, str] = {}  # layers share a kernel's code: once each, with its first layer's IR
    for s in steps:
        sources.setdefault(source_hash(s.kernel.source), s.kernel.source)
    return "\n\n".join(sources.values())


def run(args: argparse.Namespace) -> int:
    import tritium as tr
    from tritium.cli.common import build_from_onnx, parse_shapes
    from tritium.runtime.plan import PLAN_MAGIC

    path = Path(args.model)
    if not path.is_file():
        raise FileNotFoundError(2, "No such file", str(path))
    with open(path, "rb") as f:
        is_plan = f.read(len(PLAN_MAGIC)) == PLAN_MAGIC
    if is_plan or args.engine or args.kernel:
        engine = tr.load(str(path)) if is_plan else build_from_onnx(str(path), args)
        shapes = parse_shapes(args.shapes)
        if args.kernel:
            print(kernel_sources(engine, shapes, args.kernel))
            return 0
        info = inspect_engine(engine, str(path), shapes)
        print(json.dumps(info, indent=2, default=str) if args.json else render_engine(info))
        return 0
    info = inspect_tir(args.model) if path.suffix == ".tir" else inspect_onnx(args.model)
    print(json.dumps(info, indent=2) if args.json else render(info))
    return 0
