"""Describe a model: inputs and outputs, opsets, an op histogram, and what Tritium supports.

Examples:
  tritium inspect model.onnx            # ONNX: I/O, opsets, ops (supported or not), weights
  tritium inspect model.onnx --json     # the same as JSON
  tritium inspect model.tir             # a module file: signature, op histogram, weights
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path
from typing import Any

HELP = "describe a model (ONNX or .tir): I/O, ops, support"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="an .onnx model or a .tir module file")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


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


def run(args: argparse.Namespace) -> int:
    suffix = Path(args.model).suffix
    info = inspect_tir(args.model) if suffix == ".tir" else inspect_onnx(args.model)
    print(json.dumps(info, indent=2) if args.json else render(info))
    return 0
