"""The converter registry: one small function per ONNX op (and opset range).

    @converter("Softmax", since=13)
    def softmax(ctx: NodeContext) -> Value:
        return ctx.emit(nn.Softmax, ctx.input(0), axis=ctx.attr("axis", -1))

A converter registered ``since=N`` handles models whose opset for that domain is N or newer, until
the next registration for the same op. Converters return the node's output values in order (one
Value, or a sequence; None for an output that the node does not produce).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ConverterFn = Callable[[Any], Any]

# (domain, op_type) -> [(since_version, fn)] sorted by version
CONVERTERS: dict[tuple[str, str], list[tuple[int, ConverterFn]]] = {}


def _norm_domain(domain: str) -> str:
    return "" if domain in ("", "ai.onnx") else domain


def converter(*op_types: str, since: int = 1, domain: str = "") -> Callable[[ConverterFn], ConverterFn]:
    def register(fn: ConverterFn) -> ConverterFn:
        for op_type in op_types:
            entries = CONVERTERS.setdefault((_norm_domain(domain), op_type), [])
            if any(v == since for v, _ in entries):
                raise ValueError(f"converter for {op_type} since opset {since} registered twice")
            entries.append((since, fn))
            entries.sort(key=lambda e: e[0])
        return fn

    return register


def lookup(domain: str, op_type: str, opset: int) -> ConverterFn | None:
    """The converter for ``op_type`` at ``opset``, or None."""
    entries = CONVERTERS.get((_norm_domain(domain), op_type))
    if not entries:
        return None
    chosen = None
    for since, fn in entries:
        if since <= opset:
            chosen = fn
    return chosen


def supported_ops(domain: str = "") -> list[str]:
    return sorted(op for d, op in CONVERTERS if d == _norm_domain(domain))
