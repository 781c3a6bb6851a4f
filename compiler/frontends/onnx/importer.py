"""ONNX graph -> nn dialect.

Graph inputs become the parameters of ``func.func @main`` (their names kept in ``input_names``),
initializers become constants (float weights always as named module resources, so the refitter can
address them by their ONNX names; small integer tensors inline), and each node is handed to the
converter registered for its op type and opset. A node that fails is recorded with its name, op type
and reason; nodes depending on it are skipped, so one import reports every independent problem.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import onnx

from tritium.frontends.onnx import converters  # noqa: F401  (registers every converter)
from tritium.frontends.onnx.context import NodeContext, NodeError, UnsupportedNode
from tritium.frontends.onnx.proto import OnnxFormatError, load_model, tensor_to_array, type_from_proto
from tritium.frontends.onnx.registry import lookup
from tritium.ir import dtypes as D
from tritium.ir.attributes import NameLoc
from tritium.ir.core import Block, Region, Value
from tritium.ir.diagnostics import TritiumError
from tritium.ir.dialects import nn
from tritium.ir.dialects.builtin import ModuleOp
from tritium.ir.dialects.func import FuncOp, ReturnOp
from tritium.ir.interpreter import Interpreter
from tritium.ir.opdef import ConstantLike, Op, Pure, constant_value
from tritium.ir.plugins import REGISTRY
from tritium.ir.rewriter import Builder
from tritium.ir.types import FunctionType, TensorType, Type

INLINE_INT_LIMIT = 16
"""Integer initializers of up to this many elements are inlined (shapes, axes); all others are resources."""
FOLD_LIMIT = 1 << 16
"""`try_fold` computes values of up to this many elements at import time."""


class OnnxImportError(TritiumError):
    """The model could not be imported; ``errors`` lists every failing node."""

    def __init__(self, errors: list[NodeError], source: str) -> None:
        self.errors = errors
        lines = "\n".join(f"  {e}" for e in errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        super().__init__(f"{source}: {len(errors)} node(s) could not be imported:\n{lines}{more}")


class Scope:
    """ONNX value names visible in a graph (subgraphs see their parents' names)."""

    def __init__(self, parent: Scope | None = None) -> None:
        self.parent = parent
        self.names: dict[str, Value] = {}
        self.poisoned: set[str] = set()

    def lookup(self, name: str) -> Value:
        s: Scope | None = self
        while s is not None:
            v = s.names.get(name)
            if v is not None:
                return v
            s = s.parent
        raise KeyError(name)

    def has(self, name: str) -> bool:
        s: Scope | None = self
        while s is not None:
            if name in s.names:
                return True
            s = s.parent
        return False

    def is_poisoned(self, name: str) -> bool:
        s: Scope | None = self
        while s is not None:
            if name in s.poisoned:
                return True
            s = s.parent
        return False


class OnnxImporter:
    def __init__(self, model: str | os.PathLike | bytes | onnx.ModelProto, name: str | None = None) -> None:
        self.proto, self.base_dir = load_model(model)
        self.source = str(model) if isinstance(model, str | os.PathLike) else "<model>"
        graph = self.proto.graph
        self.opsets = {
            ("" if o.domain == "ai.onnx" else o.domain): int(o.version) for o in self.proto.opset_import
        }
        if "" not in self.opsets:
            # A model using only other domains (ai.onnx.ml, training) may omit the default one; its
            # nodes of the default domain, if any, then get the newest opset.
            self.opsets[""] = onnx.defs.onnx_opset_version()
        self.module = ModuleOp.new(name or graph.name or "model")
        self.builder = Builder()
        self.errors: list[NodeError] = []
        self.declared_types: dict[str, Type] = {}
        for vi in [*graph.value_info, *graph.output]:
            t = type_from_proto(vi.type, f"value '{vi.name}'")
            if t is not None:
                self.declared_types[vi.name] = t
        self._folded: dict[Value, np.ndarray | None] = {}
        self._interp = Interpreter(self.module, check_types=False)

    # -- the whole model ------------------------------------------------------------------------------
    def run(self) -> ModuleOp:
        graph = self.proto.graph
        scope = Scope()
        init_names = {t.name for t in graph.initializer}
        inputs = [vi for vi in graph.input if vi.name not in init_names]
        arg_types: list[Type] = []
        for vi in inputs:
            t = type_from_proto(vi.type, f"{self.source}: graph input '{vi.name}'")
            if t is None:
                raise OnnxFormatError(f"{self.source}: graph input '{vi.name}' has no type")
            arg_types.append(t)
        func = FuncOp.new(
            "main", arg_types, [], [vi.name for vi in inputs], loc=NameLoc(graph.name or "main")
        )
        self.module.block._insert(func, None)
        for vi, arg in zip(inputs, func.block.args):
            scope.names[vi.name] = arg
        self.builder.set_end(func.block)
        for t in graph.initializer:
            scope.names[t.name] = self.initializer(t)
        for t in graph.sparse_initializer:
            from tritium.frontends.onnx.proto import sparse_to_array

            scope.names[t.values.name] = self.constant(sparse_to_array(t, self.base_dir), t.values.name, None)
        self.convert_nodes(graph.node, scope)
        outs = self.outputs(graph, scope)
        if self.errors:
            raise OnnxImportError(self.errors, self.source)
        self.builder.create(ReturnOp, outs)
        func.attributes["function_type"] = FunctionType(tuple(arg_types), tuple(v.type for v in outs))
        func.attributes["input_names"] = tuple(vi.name for vi in inputs)
        func.attributes["output_names"] = tuple(o.name for o in graph.output)
        return self.module

    def outputs(self, graph: onnx.GraphProto, scope: Scope) -> list[Value]:
        outs = []
        for o in graph.output:
            if scope.is_poisoned(o.name):
                continue
            if not scope.has(o.name):
                self.errors.append(
                    NodeError(-1, o.name, "output", f"graph output '{o.name}' is produced by no node")
                )
                continue
            outs.append(scope.lookup(o.name))
        return outs

    # -- nodes ------------------------------------------------------------------------------------------
    def convert_nodes(self, nodes: Sequence[onnx.NodeProto], scope: Scope) -> None:
        for index, node in topological_order(nodes, scope):
            if any(n and scope.is_poisoned(n) for n in [*node.input, *_subgraph_outer_names(node)]):
                scope.poisoned.update(node.output)
                continue
            missing = [n for n in node.input if n and not scope.has(n)]
            if missing:
                self._record(
                    NodeError(
                        index,
                        node.name or node.op_type,
                        node.op_type,
                        f"input '{missing[0]}' is produced by no node and is not a graph input",
                    ),
                    node,
                    scope,
                )
                continue
            opset = self.opsets.get("" if node.domain == "ai.onnx" else node.domain)
            fn = lookup(node.domain, node.op_type, opset or 0)
            ctx = NodeContext(self, node, index, scope, opset or 0)
            if fn is None and REGISTRY.find(node.op_type, _plugin_version(node)) is not None:
                fn = convert_plugin
            if fn is None:
                where = f"domain '{node.domain}'" if node.domain else f"opset {opset}"
                self._record(
                    NodeError(index, ctx.name, node.op_type, f"op {node.op_type} ({where}) is not supported"),
                    node,
                    scope,
                )
                continue
            try:
                result = fn(ctx)
            except UnsupportedNode as e:
                self._record(e.error, node, scope)
                continue
            except TritiumError as e:
                self._record(NodeError(index, ctx.name, node.op_type, str(e)), node, scope)
                continue
            values = [result] if isinstance(result, Value) or result is None else list(result)
            values += [None] * (len(node.output) - len(values))
            failed = next((name for name, v in zip(node.output, values) if name and v is None), None)
            if failed is not None:
                self._record(
                    NodeError(index, ctx.name, node.op_type, f"output '{failed}' is not produced"),
                    node,
                    scope,
                )
                continue
            for name, v in zip(node.output, values):
                if name:
                    v.name_hint = name  # type: ignore[union-attr]
                    scope.names[name] = v  # type: ignore[assignment]

    def _record(self, err: NodeError, node: onnx.NodeProto, scope: Scope) -> None:
        self.errors.append(err)
        scope.poisoned.update(node.output)

    # -- values -----------------------------------------------------------------------------------------
    def initializer(self, t: onnx.TensorProto) -> Value:
        arr = tensor_to_array(t, self.base_dir, self.source)
        return self.constant(arr, t.name, NameLoc(t.name), weight=arr.dtype.kind in "fc")

    def constant(self, arr: np.ndarray, name: str, loc: NameLoc | None, weight: bool = False) -> Value:
        """An nn.constant: inline when small and not a weight, else a module resource named ``name``."""
        if arr.dtype.kind in "OUS":  # strings: held inline in an nn.string_constant
            from tritium.ir.dialects.nn.strings import StringConstant, string_array

            sop = StringConstant.of(string_array(arr.reshape(-1).tolist(), arr.shape), loc)
            self.builder.insert(sop)
            sop.out.name_hint = name
            return sop.out
        dt = D.DType.from_numpy(arr.dtype)
        if not weight and arr.size <= INLINE_INT_LIMIT:
            op = nn.Constant.of(arr, None, name, loc)
        else:
            key = self.module.add_resource(name, arr)
            from tritium.ir.attributes import ResourceRef

            op = nn.Constant.build(value=ResourceRef(key), result_types=[TensorType(arr.shape, dt)], loc=loc)
        self.builder.insert(op)
        op.out.name_hint = name
        return op.out

    def try_fold(self, v: Value) -> np.ndarray | None:
        """The value of ``v`` if it follows from constants alone (evaluating its producers), else None."""
        if v in self._folded:
            return self._folded[v]
        result = constant_value(v)
        op = v.defining_op
        if (
            result is None
            and isinstance(op, Op)
            and Pure in op.TRAITS
            and not op.regions
            and ConstantLike not in op.TRAITS
            and all(isinstance(r.type, TensorType) for r in op.results)
        ):
            folded = op.fold()
            if folded is not None and isinstance(folded[v.index], np.ndarray):  # type: ignore[attr-defined]
                result = folded[v.index]  # type: ignore[attr-defined]
            elif folded is not None and isinstance(folded[v.index], Value):  # type: ignore[attr-defined]
                result = self.try_fold(folded[v.index])  # type: ignore[attr-defined]
            else:
                args = [self.try_fold(x) for x in op.operands]
                if all(a is not None for a in args) and all(a.size <= FOLD_LIMIT for a in args):  # type: ignore[union-attr]
                    try:
                        outs = self._interp.eval_op(op, args, {})
                        result = outs[v.index]  # type: ignore[attr-defined]
                    except TritiumError:
                        result = None
        self._folded[v] = result
        return result

    # -- subgraphs (If, Loop, Scan bodies) ----------------------------------------------------------------
    def import_subgraph(
        self, graph: onnx.GraphProto, parent: Scope, arg_types: Sequence[Type] | None, ctx: NodeContext
    ) -> Region:
        """A region for ``graph``: block arguments for its inputs, its nodes, ``nn.yield`` of its outputs."""
        from tritium.ir.dialects.nn.control import Yield

        types: list[Type] = []
        for i, vi in enumerate(graph.input):
            t = (
                arg_types[i]
                if arg_types is not None and i < len(arg_types) and arg_types[i] is not None
                else type_from_proto(vi.type, f"subgraph input '{vi.name}'")
            )
            if t is None:
                ctx.fail(f"subgraph input '{vi.name}' has no type")
            types.append(t)  # type: ignore[arg-type]
        block = Block(types, [vi.name for vi in graph.input])
        region = Region([block])
        scope = Scope(parent)
        for vi, arg in zip(graph.input, block.args):
            scope.names[vi.name] = arg
        saved = (self.builder.block, self.builder.before)
        self.builder.set_end(block)
        try:
            for t in graph.initializer:
                scope.names[t.name] = self.initializer(t)
            errors_before = len(self.errors)
            self.convert_nodes(graph.node, scope)
            outs = self.outputs(graph, scope)
            if len(self.errors) > errors_before:
                ctx.fail(
                    f"its subgraph '{graph.name}' has nodes that could not be imported (listed separately)"
                )
            self.builder.create(Yield, outs, loc=ctx.loc)
        finally:
            self.builder.block, self.builder.before = saved
        return region

    def import_body(
        self,
        graph: onnx.GraphProto,
        parent: Scope,
        arg_types: Sequence[Type],
        carried: dict[int, int],
        ctx: NodeContext,
    ) -> Region:
        """A loop body (Loop, Scan, SequenceMap): like `import_subgraph` with the argument types given,
        where argument ``a`` of each pair in ``carried`` receives output ``carried[a]`` in the next
        iteration. Such an argument starts with the initial value's type; while the body yields a
        value it does not describe (a growing sequence, a shape that changes), the argument takes the
        join of both types and the body is imported again, so that its types hold in every iteration.
        """
        from tritium.ir.dialects.nn.control import fits, join_types

        types = list(arg_types)
        for _ in range(8):
            resources = set(self.module.resources)
            region = self.import_subgraph(graph, parent, types, ctx)
            ys = [v.type for v in region.block.last_op.operands]  # type: ignore[union-attr]
            new = list(types)
            for a, o in carried.items():
                if o < len(ys) and not fits(ys[o], types[a]):
                    joined = join_types(types[a], ys[o])
                    if joined is None:
                        ctx.fail(
                            f"body input '{graph.input[a].name}' starts as {types[a]} but the body "
                            f"yields {ys[o]} for it"
                        )
                    new[a] = joined  # type: ignore[assignment]
            if new == types:
                return region
            for op in list(region.block.ops):  # discard this attempt: its uses of outer values too
                op._drop_all_uses_recursive()
            for key in set(self.module.resources) - resources:
                del self.module.resources[key]
            types = new
        ctx.fail(f"the types of the values carried through '{graph.name}' do not settle")


def _plugin_version(node: onnx.NodeProto) -> str:
    for a in node.attribute:
        if a.name == "plugin_version":
            return a.s.decode() if a.s else str(a.i)
    return "1"


def convert_plugin(ctx: NodeContext) -> list[Value]:
    """A node whose op type is a registered plugin (any domain) becomes ``nn.plugin``; its
    attributes are the plugin's fields."""
    from tritium.ir.plugins import encode_fields

    fields = {a.name: ctx.attr(a.name) for a in ctx.node.attribute if a.name != "plugin_version"}
    op = ctx.emit(
        nn.Plugin,
        [v for v in ctx.inputs() if v is not None],
        plugin=ctx.op_type,
        version=_plugin_version(ctx.node),
        fields=encode_fields(fields),
    )
    return list(op.results)


def topological_order(nodes: Sequence[onnx.NodeProto], scope: Scope) -> list[tuple[int, onnx.NodeProto]]:
    """Nodes in an order where producers come first (the file order when it already is one)."""
    produced: dict[str, int] = {}
    for i, n in enumerate(nodes):
        for o in n.output:
            if o:
                produced[o] = i
    deps = []
    for n in nodes:
        names = set(n.input)
        for a in n.attribute:  # names a subgraph uses from this graph
            for g in [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs):
                names |= _outer_names(g)
        deps.append({produced[x] for x in names if x in produced})
    order: list[tuple[int, onnx.NodeProto]] = []
    done: set[int] = set()
    if all(all(d < i for d in ds) for i, ds in enumerate(deps)):
        return list(enumerate(nodes))
    pending = list(range(len(nodes)))
    while pending:
        progress = False
        rest = []
        for i in pending:
            if deps[i] <= done:
                order.append((i, nodes[i]))
                done.add(i)
                progress = True
            else:
                rest.append(i)
        if not progress:  # a cycle: keep file order; the missing inputs will be reported
            order.extend((i, nodes[i]) for i in rest)
            break
        pending = rest
    return order


def _subgraph_outer_names(node: onnx.NodeProto) -> set[str]:
    """The names that the subgraphs of ``node`` use from enclosing graphs."""
    names: set[str] = set()
    for a in node.attribute:
        for g in [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs):
            names |= _outer_names(g)
    return names


def _outer_names(g: onnx.GraphProto) -> set[str]:
    local = {vi.name for vi in g.input} | {t.name for t in g.initializer}
    for n in g.node:
        local.update(n.output)
    used: set[str] = set()
    for n in g.node:
        used.update(x for x in n.input if x)
        for a in n.attribute:
            for sub in [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs):
                used |= _outer_names(sub)
    used.update(o.name for o in g.output)
    return used - local


def import_onnx(model: str | os.PathLike | bytes | onnx.ModelProto, name: str | None = None) -> ModuleOp:
    """Import an ONNX model (a path, serialized bytes, or a ModelProto) into a Module.

    Raises `OnnxImportError` listing every node that could not be converted, or `OnnxFormatError`
    when the input is not a readable model.
    """
    return OnnxImporter(model, name).run()
