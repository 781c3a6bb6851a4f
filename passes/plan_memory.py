"""plan-memory: place every intermediate tensor at an offset in one activation arena.

Each value produced by a top-level op (a kernel, or an op left unfused) lives from its definition to
its last use. Buffers are placed greedily, largest first, at the lowest aligned offset that overlaps
no buffer alive at the same time (the "greedy by size" planner of TFLite and TensorRT). Views
(reshape and friends) alias their input and keep it alive. An elementwise kernel may write its
result over an input of the same type whose last use it is (in place).

Graph inputs and outputs are the user's buffers, and weights are held by the engine: neither is in
the arena. Shapes must be static: plan after shapes are fixed for a profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tritium.ir.core import Operation, Value
from tritium.ir.dialects.kernel import Fused
from tritium.ir.dialects.nn.constant import Constant
from tritium.ir.opdef import Terminator
from tritium.ir.types import TensorType
from tritium.passes.base import Pass, register_pass

ALIGN = 256


@dataclass
class Buffer:
    value: Value
    size: int
    start: int
    end: int
    offset: int = -1
    in_place_of: Buffer | None = None
    aliases: list[Value] = field(default_factory=list)


@dataclass
class MemoryPlan:
    buffers: list[Buffer]
    arena_bytes: int
    total_bytes: int
    """Sum of all intermediate tensor sizes: what the arena would take without reuse."""

    def offset_of(self, v: Value) -> int | None:
        for b in self.buffers:
            if b.value is v or v in b.aliases:
                return b.offset
        return None


def _aligned(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _is_view(op: Operation) -> bool:
    return (isinstance(op, Fused) and op.kind == "view") or op.name in (
        "nn.reshape",
        "nn.squeeze",
        "nn.unsqueeze",
        "nn.flatten",
    )


def plan_function(func: Any, also_views: Any = None) -> MemoryPlan:
    """``also_views(op)``: ops the runtime executes as views of their first operand (e.g. a strided
    transpose read in place by its consumer) — they alias it and keep it alive, like reshapes."""
    ops = [op for op in func.block.ops if not isinstance(op, Constant) and Terminator not in op.TRAITS]
    pos = {op: i for i, op in enumerate(ops)}
    end_of_time = len(ops)
    returned = set(func.return_op.operands)
    owner: dict[Value, Buffer] = {}
    buffers: list[Buffer] = []
    for op in ops:
        for r in op.results:
            t = r.type
            if not isinstance(t, TensorType) or t.nbytes is None:
                raise ValueError(
                    f"{op.describe()}: result #{r.index} has type {t}; memory planning needs "
                    "static shapes (plan per optimization profile)"
                )
            if (
                (_is_view(op) or (also_views is not None and also_views(op)))
                and op.operands
                and op.operand(0) in owner
            ):
                base = owner[op.operand(0)]
                base.aliases.append(r)
                owner[r] = base
                continue
            if r in returned:
                continue
            b = Buffer(r, _aligned(t.nbytes), pos[op], pos[op])
            owner[r] = b
            buffers.append(b)
    for op in ops:
        for nested in op.walk():
            for v in nested.operands:
                b = owner.get(v)
                if b is not None:
                    b.end = max(b.end, pos[op])
    for v in returned:
        if v in owner:
            owner[v].end = end_of_time
    _mark_in_place(ops, owner)
    _place(buffers)
    arena = max((b.offset + b.size for b in buffers), default=0)
    return MemoryPlan(buffers, arena, sum(b.size for b in buffers))


def _mark_in_place(ops: list[Operation], owner: dict[Value, Buffer]) -> None:
    for op in ops:
        if not (isinstance(op, Fused) and op.kind == "elementwise" and len(op.results) == 1):
            continue
        out = owner.get(op.results[0])
        if out is None or out.value is not op.results[0]:
            continue
        for v in op.operands:
            b = owner.get(v)
            if (
                b is not None
                and b.end == out.start
                and v.type == op.results[0].type
                and not b.aliases
                and b.in_place_of is None
                and sum(1 for x in op.operands if x is v) == 1
            ):
                out.in_place_of = b
                break


def _place(buffers: list[Buffer]) -> None:
    placed: list[Buffer] = []
    for b in sorted(buffers, key=lambda b: (-b.size, b.start)):
        if b.in_place_of is not None and b.in_place_of.offset >= 0 and b.in_place_of.size == b.size:
            candidate = b.in_place_of.offset
            if all(not _conflict(b, o, candidate) for o in placed if o is not b.in_place_of):
                b.offset = candidate
                placed.append(b)
                continue
        ranges = sorted(
            (o.offset, o.offset + o.size) for o in placed if o.start <= b.end and b.start <= o.end
        )
        offset = 0
        for lo, hi in ranges:
            if offset + b.size <= lo:
                break
            offset = max(offset, hi)
        b.offset = offset
        placed.append(b)


def _conflict(b: Buffer, o: Buffer, offset: int) -> bool:
    return o.start <= b.end and b.start <= o.end and offset < o.offset + o.size and o.offset < offset + b.size


@register_pass
@dataclass(frozen=True)
class PlanMemory(Pass):
    """Assign arena offsets to intermediate tensors.

    Requires: static shapes (kernel IR or nn IR). Guarantees: each top-level op gets an
    ``arena_offsets`` attribute (one offset per result; -1 for results that are graph outputs, views
    share their input's offset), each function an ``arena_bytes`` attribute; no two tensors alive at
    the same time overlap, except an elementwise kernel's result written in place over its last-used
    input of the same type. Reports the arena size and the sum of all intermediate sizes.
    """

    name = "plan-memory"

    def run(self, module: Any) -> dict[str, int]:
        from tritium.ir.rewriter import Rewriter

        rw = Rewriter()
        arena = total = 0
        for func in module.functions:
            plan = plan_function(func)
            for op in func.block.ops:
                if isinstance(op, Constant) or Terminator in op.TRAITS:
                    continue
                offsets = tuple(-1 if (o := plan.offset_of(r)) is None else o for r in op.results)
                rw.set_attr(op, "arena_offsets", offsets)
            rw.set_attr(func, "arena_bytes", plan.arena_bytes)
            arena += plan.arena_bytes
            total += plan.total_bytes
        return {"arena bytes": arena, "intermediate bytes": total}
