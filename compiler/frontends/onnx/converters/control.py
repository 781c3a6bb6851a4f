"""Control flow: If, Loop and Scan, with subgraphs imported as regions."""

from __future__ import annotations

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.registry import converter
from tritium.ir import dtypes as D
from tritium.ir.core import Value
from tritium.ir.dialects import nn
from tritium.ir.types import TensorType, Type


@converter("If")
def if_(ctx: NodeContext) -> list[Value]:
    ctx.check_attrs("then_branch", "else_branch")
    cond = ctx.const(0)
    if cond is not None and cond.size == 1:  # known at import time: only the branch taken is kept
        return ctx.inline(ctx.subgraph("then_branch" if bool(cond.reshape(-1)[0]) else "else_branch"))
    then_r = ctx.subgraph("then_branch")
    else_r = ctx.subgraph("else_branch")
    op = ctx.emit(nn.If, ctx.input(0), regions=[then_r, else_r])
    return list(op.results)


@converter("Loop")
def loop(ctx: NodeContext) -> list[Value]:
    ctx.check_attrs("body")
    m, cond = ctx.opt_input(0), ctx.opt_input(1)
    if m is None and cond is None:
        ctx.fail("a Loop with neither a trip count nor a condition never ends")
    initial = [ctx.input(i) for i in range(2, ctx.num_inputs)]
    n = len(initial)
    types: list[Type] = [TensorType((), D.i64), TensorType((), D.bool_), *[v.type for v in initial]]
    body = ctx.body("body", types, {2 + i: 1 + i for i in range(n)})
    op = ctx.emit(nn.Loop, m, cond, initial, regions=[body])
    return list(op.results)


def _scan_types(ctx: NodeContext, states: list[Value], xs: list[Value], axes: list[int]) -> list[Type]:
    types: list[Type] = [v.type for v in states]
    for j, (x, axis) in enumerate(zip(xs, axes)):
        t = x.type
        if not isinstance(t, TensorType):
            ctx.fail(f"scan input #{j} must be a tensor, found {t}")
        if t.shape is None:
            types.append(TensorType(None, t.dtype))
            continue
        if not -len(t.shape) <= axis < len(t.shape):
            ctx.fail(f"scan_input_axes[{j}] = {axis} is out of range for {t}")
        a = axis % len(t.shape)
        types.append(TensorType(t.shape[:a] + t.shape[a + 1 :], t.dtype))
    return types


@converter("Scan", since=9)
def scan(ctx: NodeContext) -> list[Value]:
    ctx.check_attrs(
        "body",
        "num_scan_inputs",
        "scan_input_axes",
        "scan_input_directions",
        "scan_output_axes",
        "scan_output_directions",
    )
    inputs = [ctx.input(i) for i in range(ctx.num_inputs)]
    m = ctx.attr("num_scan_inputs")
    if not 0 < m <= len(inputs):
        ctx.fail(f"num_scan_inputs {m} must be in [1, {len(inputs)}]")
    n = len(inputs) - m
    k = len(ctx.attr("body").output) - n
    if k < 0:
        ctx.fail(f"the body yields fewer values than the {n} states")
    in_axes = list(ctx.attr("scan_input_axes", (0,) * m))
    types = _scan_types(ctx, inputs[:n], inputs[n:], in_axes)
    body = ctx.body("body", types, {i: i for i in range(n)})
    op = ctx.emit(
        nn.Scan,
        inputs,
        num_scan_inputs=m,
        scan_input_axes=tuple(in_axes),
        scan_input_directions=tuple(ctx.attr("scan_input_directions", (0,) * m)),
        scan_output_axes=tuple(ctx.attr("scan_output_axes", (0,) * k)),
        scan_output_directions=tuple(ctx.attr("scan_output_directions", (0,) * k)),
        regions=[body],
    )
    return list(op.results)


@converter("Scan", since=8)
def scan_v8(ctx: NodeContext) -> list[Value]:
    """The batched form: supported for a batch of one without sequence_lens (the batch axis is
    reshaped away around an opset-9 scan over axis 0)."""
    ctx.check_attrs("body", "num_scan_inputs", "directions")
    if ctx.opt_input(0) is not None:
        ctx.fail("Scan-8 with sequence_lens is not supported")
    inputs = [ctx.input(i) for i in range(1, ctx.num_inputs)]
    m = ctx.attr("num_scan_inputs")
    if not 0 < m <= len(inputs):
        ctx.fail(f"num_scan_inputs {m} must be in [1, {len(inputs)}]")
    n = len(inputs) - m
    k = len(ctx.attr("body").output) - n
    unbatched = []
    for i, v in enumerate(inputs):
        t = v.type
        if not isinstance(t, TensorType) or not t.is_static or not t.shape or t.shape[0] != 1:
            ctx.fail(f"Scan-8 is supported for a static batch of one; input #{i + 1} is {t}")
        unbatched.append(ctx.value(nn.Reshape, v, ctx.ints_const(t.shape[1:])))  # type: ignore[index]
    types = _scan_types(ctx, unbatched[:n], unbatched[n:], [0] * m)
    body = ctx.body("body", types, {i: i for i in range(n)})
    op = ctx.emit(
        nn.Scan,
        unbatched,
        num_scan_inputs=m,
        scan_input_axes=(0,) * m,
        scan_input_directions=tuple(ctx.attr("directions", (0,) * m)),
        scan_output_axes=(0,) * k,
        scan_output_directions=(0,) * k,
        regions=[body],
    )
    outs = []
    for r in op.results:
        t = r.type
        if not isinstance(t, TensorType) or not t.is_static:
            ctx.fail(f"Scan-8 needs static output shapes, found {t}")
        outs.append(ctx.value(nn.Reshape, r, ctx.ints_const((1, *t.shape))))  # type: ignore[misc]
    return outs
