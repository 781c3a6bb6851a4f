"""fuse-kernels: group the ops of each function into kernel.fused ops (the kernel IR).

Grouping walks the ops in order and merges an op into the group that produces its input when the
policy (``fusion_policy.py``) allows it and the value between them has no other user, so nothing is
computed twice and no intermediate that others need is lost. A merge that would let the group reach
itself through an outside op (a cycle) is refused; the check walks the group graph.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tritium.ir.attributes import Dense, fuse_locs
from tritium.ir.core import Block, Operation, Region, Value
from tritium.ir.dialects.kernel import Fused, Yield
from tritium.ir.dialects.nn.constant import Constant
from tritium.ir.opdef import Terminator
from tritium.ir.rewriter import Rewriter
from tritium.passes.base import Pass, register_pass
from tritium.passes.fusion_policy import (
    EXTRA_OUTPUT_REDUCTIONS,
    GEMM_ANCHORS,
    PROLOGUE_NORMS,
    SIDE_CHAIN_OPS,
    WINDOWED,
    chained_product,
    chained_product_pays,
    classify,
    depthwise_chain,
    depthwise_operand,
    depthwise_operand_pays,
    epilogue_reads_only_scalars,
    joinable_concat,
    scalar_constant,
    scalar_epilogue_op,
    takes_epilogue,
    takes_prologue,
    takes_side_inputs,
)
from tritium.passes.integral import cast_through_integer
from tritium.passes.patterns import apply_patterns_greedily


class _Group:
    __slots__ = ("id", "kind", "ops")

    def __init__(self, gid: int, op: Operation, kind: str) -> None:
        self.id = gid
        self.ops: list[Operation] = [op]
        self.kind = kind


class Grouping:
    """Ops -> groups, with the rules above. Exposed for tests and for the inspector."""

    def __init__(self, block: Block) -> None:
        self.block = block
        self.group_of: dict[Operation, _Group] = {}
        self.groups: list[_Group] = []
        for op in block.ops:
            if Terminator in op.TRAITS or isinstance(op, Constant):
                continue
            self.add(op)
        self.fuse_extra_outputs()

    def producer_group(self, v: Value) -> _Group | None:
        op = v.defining_op
        return self.group_of.get(op) if op is not None else None

    def add(self, op: Operation) -> None:
        kind = classify(op)
        g = _Group(len(self.groups), op, kind)
        self.groups.append(g)
        self.group_of[op] = g
        if kind == "elementwise":
            self.fuse_as_epilogue(g, op)
        elif kind == "reduction":
            self.fuse_prologues(g, op)
        elif op.name == "nn.matmul":
            self.fuse_joined_operand(g, op)
            self.fuse_depthwise_operand(g, op)
            self.fuse_chained_product(g, op)

    def sole_user_is(self, v: Value, op: Operation) -> bool:
        return bool(v.uses) and all(u.op is op for u in v.uses)

    def fuse_as_epilogue(self, g: _Group, op: Operation) -> None:
        """Merge elementwise ``op`` into the group producing one of its operands."""
        for v in op.operands:
            p = self.producer_group(v)
            if p is None or p is g or not takes_epilogue(p.kind) or not self.sole_user_is(v, op):
                continue
            if self.would_cycle(p, g) or self.reads_past_a_window(p, op, v):
                continue
            if epilogue_reads_only_scalars(p.kind) and not scalar_epilogue_op(op, v):
                continue
            if self.norm_takes_it(p, op, v):
                continue
            self.merge(p, g)
            if takes_side_inputs(p.kind):
                self.fuse_side_inputs(p, op, v)
            return

    def norm_takes_it(self, p: _Group, op: Operation, v: Value) -> bool:
        """``op`` (reading ``v``, a float16/bfloat16 GEMM's product) starts an elementwise chain at
        the product's type that ends in a norm's data input, each value on the way read by the next
        op alone (BERT's bias + residual add before its LayerNorm): the chain becomes the norm's
        prologue and the GEMM stores the bare product. The sum is then never stored and read back,
        and a library GEMM (cuBLAS) writes its product straight into place instead of needing an
        epilogue kernel of its own. (The generated GEMM loses its free residual read to the norm
        kernel, a row pass that reads one more tensor.) Only where the whole chain surely reaches
        the norm: no op on it that another producer would take as its epilogue first (it would
        strand the ops before it in a kernel of their own), a norm in this block whose statistics
        nothing reads (the row kernel stores the normalized rows only)."""
        if p.kind != "matmul" or [o.name for o in p.ops] != ["nn.matmul"]:
            return False
        dtype = getattr(v.type, "dtype", None)
        if (
            getattr(dtype, "name", None) not in ("f16", "bf16")
            or os.environ.get("TRITIUM_NORM_PROLOGUE") == "0"
        ):
            return False
        cur, read = op, v
        while True:  # (the ops are SSA: the chain ends)
            if cur.parent is not self.block or len(cur.results) != 1:
                return False
            out = cur.results[0]
            if getattr(out.type, "dtype", None) != dtype or any(
                self.could_take(w, cur) for w in cur.operands if w is not read
            ):
                return False
            users = {u.op for u in out.uses}
            if len(users) != 1:
                return False
            (user,) = users
            if user.name in PROLOGUE_NORMS:
                return (
                    user.parent is self.block
                    and all(u.index == 0 for u in out.uses)
                    and not any(r.uses for r in user.results[1:])
                )
            if classify(user) != "elementwise":
                return False
            cur, read = user, out

    def could_take(self, w: Value | None, op: Operation) -> bool:
        """Whether the op computing ``w`` could take ``op`` as its epilogue (``fuse_as_epilogue``)."""
        d = w.defining_op if w is not None else None
        return (
            d is not None
            and not isinstance(d, Constant)
            and takes_epilogue(classify(d))
            and self.sole_user_is(w, op)
        )

    def fuse_extra_outputs(self) -> None:
        """Merge into a norm's or softmax's group each elementwise group left on its own whose one
        tensor input is that group's result (others read it too) and whose other inputs are scalar
        constants, of plain arithmetic at that result's shape (the quantize of a LayerNorm's output,
        which the residual add also reads): the reduction kernel stores both, and no kernel of its
        own reads the value back. Run last, so that it takes no op from a fusion made by the rules
        above (a prologue of the next reduction, a side input of a GEMM)."""
        for g in self.live_groups():
            if g.kind != "elementwise" or any(o.name not in SIDE_CHAIN_OPS for o in g.ops):
                continue
            if any(o.name == "nn.cast" and not o.attributes.get("saturate", True) for o in g.ops):
                continue  # (a non-saturating cast to float 8 may have no generated kernel)
            inside = set(g.ops)
            reads = {v for o in g.ops for v in o.operands if v is not None and v.defining_op not in inside}
            tensors = [v for v in reads if not scalar_constant(v)]
            p = self.producer_group(tensors[0]) if len(tensors) == 1 else None
            if (
                p is None
                or p.kind != "reduction"
                or not any(o.name in EXTRA_OUTPUT_REDUCTIONS for o in p.ops)
            ):
                continue
            # at the reduction's full (row) shape: not its statistics, nor a reduced output
            shape = next(o for o in p.ops if o.name in EXTRA_OUTPUT_REDUCTIONS).results[0].type.shape  # type: ignore[attr-defined]
            if any(r.type.shape != shape for r in [tensors[0], *(r for o in g.ops for r in o.results)]):  # type: ignore[attr-defined]
                continue
            if self.would_cycle(p, g):
                continue
            self.merge(p, g)

    def fuse_side_inputs(self, p: _Group, op: Operation, v: Value) -> None:
        """Merge into anchor group ``p`` the elementwise groups computing ``op``'s other operands
        when ``op`` alone reads them (a residual's dequantize, say): the epilogue computes them
        from their inputs as it loads them, and the intermediate tensor is never written."""
        anchor_reads = {x for o in p.ops if classify(o) != "elementwise" for x in o.operands}
        for w in op.operands:
            q = self.producer_group(w)
            if w is v or q is None or q is p or q.kind != "elementwise" or not self.sole_user_is(w, op):
                continue
            if self.external_outputs(q) != [w]:  # (then p is q's one consumer: no cycle can form)
                continue
            if any(x in anchor_reads for o in q.ops for x in o.operands):
                continue  # the templates' epilogues never read the product's own operands
            if any(o.name not in SIDE_CHAIN_OPS for o in q.ops) or w.type != op.results[0].type:
                continue  # plain arithmetic at the epilogue's own shape only
            self.merge(p, q)

    def reads_past_a_window(self, p: _Group, op: Operation, v: Value) -> bool:
        """``op`` would join a pooling group while reading something besides ``v`` that the group
        does not compute (a constant aside): the pooling kernel has no such value at hand."""
        if not any(o.name in WINDOWED for o in p.ops):
            return False
        inside = set(p.ops)
        return any(o is not v and o.defining_op not in inside and not scalar_constant(o) for o in op.operands)

    def fuse_prologues(self, g: _Group, op: Operation) -> None:
        """Merge elementwise-only producer groups whose value only this reduction reads."""
        for v in op.operands:
            p = self.producer_group(v)
            if p is None or p is g or p.kind != "elementwise" or not takes_prologue(g.kind):
                continue
            if not self.sole_user_is(v, op) or self.external_outputs(p) != [v] or self.would_cycle(p, g):
                continue
            self.merge(p, g, keep_kind=g.kind)
            g = self.group_of[op]

    def fuse_joined_operand(self, g: _Group, op: Operation) -> None:
        """A GEMM takes in the concat along K that only it reads (``merge-summed-matmuls``): its
        template reads the joined inputs in turn, so the concat is never copied. Only where the
        template can (``fusion_policy.joinable_concat``)."""
        v = op.operand(0)
        p = self.producer_group(v)
        if p is None or len(p.ops) != 1 or p.ops[0].name != "nn.concat" or not self.sole_user_is(v, op):
            return
        if joinable_concat(p.ops[0], op) is not None:
            return
        if not self.would_cycle(p, g):
            self.merge(p, g, keep_kind=g.kind)  # (the concat's group first: ops stay in order)

    def fuse_depthwise_operand(self, g: _Group, op: Operation) -> None:
        """A GEMM takes in the depthwise convolution (and its activation) computing its left operand
        when it alone reads it (MobileNet's depthwise-then-pointwise pair): its template computes each
        tile of the operand from the convolution's input (``codegen/gemm_depthwise.py``), so the
        depthwise output is never stored. Only where the template can (``fusion_policy.depthwise_operand``)
        and where it measured faster (``depthwise_operand_pays``)."""
        if not depthwise_operand_pays():
            return
        v = op.operand(0)
        p = self.producer_group(v)
        found = depthwise_chain(v)
        if p is None or found is None or p.kind != "conv" or not self.sole_user_is(v, op):
            return
        conv, chain = found
        if set(p.ops) != {conv, *chain} or self.external_outputs(p) != [v]:
            return
        if depthwise_operand(conv, op) is None and not self.would_cycle(p, g):
            self.merge(p, g, keep_kind=g.kind)

    def fuse_chained_product(self, g: _Group, op: Operation) -> None:
        """A GEMM joins the kernel of the GEMM whose output (through its elementwise epilogue) it
        reads: ResNet's bottleneck blocks end by widening the channels four times and the next
        begins by narrowing them again. The template (``codegen/gemm_chain.py``) multiplies each
        slice of the first product's columns, once its epilogue has run, into the second, so that
        output is never read back (it is still stored where others read it: the next residual add).
        Only a group of one product and its epilogue, where the template can
        (``fusion_policy.chained_product``) and where it measured faster (``chained_product_pays``)."""
        v = op.operand(0)
        p = self.producer_group(v)
        if p is None or p is g or g.ops != [op] or p.kind != "matmul":
            return
        anchors = [o for o in p.ops if o.name in GEMM_ANCHORS]
        if len(anchors) != 1 or any(o is not anchors[0] and classify(o) != "elementwise" for o in p.ops):
            return
        mm1 = anchors[0]
        if chained_product(mm1, op) is not None:
            return
        (k1, n1), n2 = mm1.operand(1).type.shape, op.operand(1).type.shape[1]  # type: ignore[attr-defined]
        if chained_product_pays(k1, n1, n2) and not self.would_cycle(p, g):
            self.merge(p, g)

    def external_outputs(self, g: _Group) -> list[Value]:
        inside = set(g.ops)
        return [r for o in g.ops for r in o.results if any(u.op not in inside for u in r.uses)]

    def would_cycle(self, src: _Group, dst: _Group) -> bool:
        """True when ``dst`` is reachable from ``src`` through a group other than the two."""
        seen: set[int] = set()
        stack = [u for u in self.consumers(src) if u is not dst]
        while stack:
            g = stack.pop()
            if g.id in seen:
                continue
            seen.add(g.id)
            if g is dst:
                return True
            stack.extend(self.consumers(g))
        return False

    def consumers(self, g: _Group) -> Iterable[_Group]:
        out: dict[int, _Group] = {}
        inside = set(g.ops)
        for o in g.ops:
            for r in o.results:
                for u in r.uses:
                    if u.op not in inside:
                        h = self.group_of.get(u.op) or self.group_of.get(_top_level(u.op, self.block))
                        if h is not None:
                            out[h.id] = h
        return out.values()

    def merge(self, keep: _Group, gone: _Group, keep_kind: str | None = None) -> None:
        """Move ``gone``'s ops into ``keep`` (ordered as in the block)."""
        order = {op: i for i, op in enumerate(self.block.ops)} if len(keep.ops) + len(gone.ops) > 2 else None
        keep.ops = keep.ops + gone.ops
        if order is not None:
            keep.ops.sort(key=order.__getitem__)
        if keep_kind is not None:
            keep.kind = keep_kind
        for op in gone.ops:
            self.group_of[op] = keep
        gone.ops = []

    def live_groups(self) -> list[_Group]:
        return [g for g in self.groups if g.ops]


def _top_level(op: Operation, block: Block) -> Operation:
    while op.parent is not block and op.parent_op is not None:
        op = op.parent_op
    return op


@register_pass
@dataclass(frozen=True)
class FuseKernels(Pass):
    """Group every op of each function into ``kernel.fused`` ops.

    Requires: valid nn-dialect IR. Guarantees: every op other than constants and the terminator is
    inside exactly one kernel.fused; anchors (conv/matmul/attention) carry their elementwise
    epilogues, reductions their elementwise prologues and epilogues, elementwise chains are one
    kernel; no op is duplicated (small inline constants are copied into the kernels that use them);
    the kernel graph has no cycles; values and types are unchanged. Inside a kernel, a cast to an
    integer type and back of a value the type holds becomes an addition of +0.0
    (``integral.cast_through_integer``).
    """

    name = "fuse-kernels"

    def run(self, module: Any) -> dict[str, int]:
        stats = {"kernels": 0, "ops fused": 0}
        for func in module.functions:
            grouping = Grouping(func.block)
            for g in grouping.live_groups():
                outlined = outline(g.ops, g.kind)
                stats["kernels"] += 1
                stats["ops fused"] += len(outlined.ops)
            sort_topologically(func.block)
        # inside a kernel, a quantize's integers dequantized again need no conversion at all
        for func in module.functions:
            for op in func.block.ops:
                if isinstance(op, Fused):
                    # (no folds: only the rewrite asked for, on kernel bodies already folded)
                    for k, v in apply_patterns_greedily(op, [cast_through_integer], fold=False).items():
                        stats[k] = stats.get(k, 0) + v
        return stats


def outline(ops: list[Operation], kind: str) -> Fused:
    """Move ``ops`` (in block order) into a new kernel.fused placed where the last of them was.

    Values the ops read from outside become operands (block arguments), except small inline
    constants, which are copied into the body; values used outside become results.
    """
    block = ops[0].parent
    assert block is not None
    inside = set(ops)
    inputs: list[Value] = []
    inlined: dict[Value, Constant] = {}
    for op in ops:
        for nested in op.walk():
            for v in nested.operands:
                if _defined_inside(v, inside) or v in inlined or v in inputs:
                    continue
                d = v.defining_op
                if isinstance(d, Constant) and isinstance(d.value, Dense) and _inline(d):
                    inlined[v] = d
                else:
                    inputs.append(v)
    outputs = [r for op in ops for r in op.results if any(not _within(u.op, inside) for u in r.uses)]
    body = Block([v.type for v in inputs], [v.name_hint for v in inputs])
    fused = Fused.build(
        inputs,
        kind=kind,
        regions=[Region([body])],
        result_types=[r.type for r in outputs],
        loc=fuse_locs(*(op.loc for op in ops)),
    )
    rw = Rewriter()
    with rw.at(before=ops[-1]):
        rw.insert(fused)
    for v, c in inlined.items():
        copy = body_insert(body, Constant.build(value=c.value, loc=c.loc))
        copy.out.name_hint = v.name_hint
        _redirect(v, copy.out, lambda op: _within(op, inside))
    for a, v in zip(body.args, inputs):
        _redirect(v, a, lambda op: _within(op, inside))
    for op in ops:
        rw.detach_op(op)
        body_insert(body, op)
    body_insert(body, Yield.build(outputs))
    for new, old in zip(fused.results, outputs):
        new.name_hint = old.name_hint
        _redirect(old, new, lambda op: op.parent is not body)
    return fused


def _inline(c: Constant) -> bool:
    """Scalars become literals in the kernel; small integer tensors are structure (axes, shapes) that
    kernel generators read at build time. Other constants are operands, loaded like any input."""
    t = c.out.type
    return t.numel == 1 or not t.dtype.is_float  # type: ignore[attr-defined]


def body_insert(block: Block, op: Operation) -> Any:
    block._insert(op, None)
    return op


def _within(op: Operation, group: set[Operation]) -> bool:
    """``op`` is one of ``group`` or nested in one of them."""
    cur: Operation | None = op
    while cur is not None:
        if cur in group:
            return True
        cur = cur.parent_op
    return False


def _defined_inside(v: Value, group: set[Operation]) -> bool:
    owner = v.owner
    op = owner if isinstance(owner, Operation) else owner.parent_op
    return op is not None and _within(op, group)


def _redirect(old: Value, new: Value, where: Any) -> None:
    for use in list(old.uses):
        if where(use.op):
            use.op._set_operand(use.index, new)


def sort_topologically(block: Block) -> None:
    """Reorder ``block`` so that every value is defined before its uses (stable otherwise)."""
    ops = list(block.ops)
    pos = {op: i for i, op in enumerate(ops)}
    placed: set[Operation] = set()
    order: list[Operation] = []

    def deps(op: Operation) -> list[Operation]:
        out = []
        for nested in op.walk():
            for v in nested.operands:
                d = v.defining_op
                while d is not None and d.parent is not block:
                    d = d.parent_op
                if d is not None and d is not op:
                    out.append(d)
        return out

    def visit(op: Operation) -> None:
        stack = [(op, False)]
        while stack:
            cur, expanded = stack.pop()
            if cur in placed:
                continue
            if expanded:
                placed.add(cur)
                order.append(cur)
                continue
            stack.append((cur, True))
            for d in sorted(deps(cur), key=pos.__getitem__, reverse=True):
                if d not in placed:
                    stack.append((d, False))

    for op in ops:
        visit(op)
    if order == ops:
        return
    for op in ops:
        block._unlink(op)
    for op in order:
        block._insert(op, None)
