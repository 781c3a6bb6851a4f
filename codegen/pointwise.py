"""Pointwise kernels: any chain of elementwise and broadcasting ops, one program per block of outputs.

The iteration space is the kernel's output shape. Adjacent dimensions in which every input either
broadcasts or not are merged, so a bias add over NCHW indexes in two dimensions (channel, rest) and a
same-shape chain in none: its loads and stores use the flat offset directly.
"""

from __future__ import annotations

import builtins
import keyword
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tritium.codegen.indexing import Unsupported
from tritium.codegen.lowering import HELPERS, compute_type, finish_source, literal, lower
from tritium.codegen.triton_env import pdl_kwargs
from tritium.ir.core import Operation, OpResult, Value
from tritium.ir.dialects.kernel import Fused, Yield
from tritium.ir.dialects.nn.constant import Constant
from tritium.ir.printer import Printer
from tritium.ir.types import TensorType
from tritium.passes.fusion_policy import classify

DEFAULT_BLOCK = 1024


def _splat(arr: np.ndarray | None) -> bool:
    """A constant of one value, whatever its shape: inside a kernel it is that value (its shape only
    broadcasts, and the kernel already iterates over the broadcast result)."""
    if arr is None or arr.size == 0:
        return False
    return arr.size == 1 or np.array_equal(
        arr, np.full_like(arr, arr.reshape(-1)[0]), equal_nan=arr.dtype.kind == "f"
    )


def ident(name: str | None, default: str) -> str:
    """A Python identifier from ``name`` (else ``default``) that is no keyword or builtin."""
    s = re.sub(r"\W", "_", name or "")
    if not s or s[0].isdigit():
        s = default if not s else "v" + s
    if keyword.iskeyword(s) or hasattr(builtins, s):
        s += "_"
    return s


def namer(names: dict[Value, str], used: set[str]) -> Callable[[Value, str], str]:
    """``fresh(v, default)``: a new variable for ``v``, never one in ``used`` (seed it with the
    kernel's own variables), recorded in ``names``. A value computed in the kernel is named after its
    op (``gelu``, ``add_1``), any other takes ``default``: never the model's tensor names, so that the
    same kernel in every layer of a network is the same source (one compile, one tuning)."""

    def fresh(v: Value, default: str) -> str:
        base = ident(v.owner.name.split(".")[-1] if isinstance(v, OpResult) else None, default)
        n, i = base, 1
        while n in used or n in HELPERS:
            n, i = f"{base}_{i}", i + 1
        used.add(n)
        names[v] = n
        return n

    return fresh


def lower_elementwise(
    ops: list[Operation], names: dict[Value, str], fresh: Callable[[Value, str], str], anchor: Operation
) -> list[str]:
    """Triton lines (unindented) computing the elementwise ``ops`` of a template's prologue or
    epilogue (``names``: the variable of each value already computed; ``fresh`` names a new one).
    Constants that only ``anchor`` reads (a reduction's axes) are structure, not data."""
    lines = []
    for op in ops:
        if isinstance(op, Constant):
            if all(u is anchor for u in op.out.users):
                continue
            arr = op.value_array()
            if not _splat(arr):
                raise Unsupported(f"a non-scalar constant around {anchor.name} inside a kernel")
            names[op.out] = literal(arr.reshape(-1)[0], op.out.type.dtype)  # type: ignore[attr-defined]
            continue
        if classify(op) != "elementwise":
            raise Unsupported(f"{op.name} inside a {anchor.name} kernel")
        expr = lower(op, [names[v] for v in op.operands])
        dt = op.results[0].type.dtype  # type: ignore[attr-defined]
        if not dt.is_float:
            expr = f"({expr}).to({compute_type(dt)})"
        name = names.get(op.results[0]) or fresh(op.results[0], "v")  # sweeps recompute it
        lines.append(f"{name} = {expr}")
    return lines


def kernel_name(fused: Fused) -> str:
    """Named after the ops it fuses: ``conv_add_relu`` (``and_kernel`` where a name is a keyword)."""
    import keyword

    parts: list[str] = []
    for op in fused.ops:
        short = op.name.split(".")[-1]
        if short != "constant" and (not parts or parts[-1] != short):
            parts.append(short)
    name = "_".join(parts[:5]) or "kernel"
    clash = keyword.iskeyword(name) or name in ("tl", "triton") or name in HELPERS  # (a helper's name)
    return name + "_kernel" if clash else name


def ir_comment(fused: Fused) -> str:
    """The kernel's IR as a comment, its operands named in0, in1, ... as in the kernel's signature."""
    p = Printer(print_locs=False)
    for i, v in enumerate(fused.operands):
        p.scopes[-1].names[v] = f"in{i}"
    lines = p.op_text(fused).rstrip().split("\n")
    return "\n".join("#   " + ln for ln in lines)


def kernel_source(
    title: str, fused: Fused, name: str, params: list[str], body: list[str], after: str = ""
) -> str:
    """A generated kernel's source: a comment naming it and showing its IR, the imports, and the
    jitted function (``params`` include the constexpr ones, annotated); ``after``: more functions."""
    header = [
        f"# Tritium {title}, generated from:",
        ir_comment(fused),
        "import triton",
        "import triton.language as tl",
    ]
    text = "\n".join(header) + "\n\n\n" + jit_function(name, params, body) + (f"\n\n{after}" if after else "")
    return finish_source(text)


def jit_function(name: str, params: list[str], body: list[str]) -> str:
    return "\n".join(["@triton.jit", f"def {name}({', '.join(params)}):", *body]) + "\n"


@dataclass
class InputPlan:
    arg: Value
    broadcast: list[bool] | None  # per merged dim; None for a one-element input (loaded once)


@dataclass
class Layout:
    """How the iteration space is merged: ``groups[j]`` lists the original dims of merged dim j."""

    groups: list[list[int]]
    inputs: list[InputPlan]

    @property
    def trivial(self) -> bool:
        return all(p.broadcast is None or not any(p.broadcast) for p in self.inputs)


def plan_layout(out_shape: tuple, inputs: list[Value]) -> Layout:
    rank = len(out_shape)
    pattern: list[list[bool]] = []  # per input, per original dim: broadcast?
    scalar: list[bool] = []
    for v in inputs:
        t = v.type
        if not isinstance(t, TensorType) or t.shape is None:
            raise Unsupported(f"input of type {t}")
        if len(t.shape) > rank:
            raise Unsupported(f"input {t} has a higher rank than the output")
        if t.numel == 1:
            scalar.append(True)
            pattern.append([True] * rank)
            continue
        scalar.append(False)
        padded = (1,) * (rank - len(t.shape)) + tuple(t.shape)
        pattern.append([d == 1 and o != 1 for d, o in zip(padded, out_shape)])
    groups: list[list[int]] = []
    rep: list[int | None] = []  # per group: a dim of size > 1 whose broadcast pattern the group has
    for d in range(rank):
        if out_shape[d] == 1 and groups:
            groups[-1].append(d)  # a size-1 dim never changes an index: merge it anywhere
            continue
        r = rep[-1] if rep else None
        if groups and (r is None or all(pattern[i][d] == pattern[i][r] for i in range(len(inputs)))):
            groups[-1].append(d)
            if r is None and out_shape[d] != 1:
                rep[-1] = d
        else:
            groups.append([d])
            rep.append(d if out_shape[d] != 1 else None)
    plans = [
        InputPlan(v, None if s else [r is not None and p[r] for r in rep])
        for v, s, p in zip(inputs, scalar, pattern)
    ]
    return Layout(groups, plans)


class PointwiseKernel:
    """Generates, loads and launches the Triton kernel for an elementwise kernel.fused."""

    kind = "pointwise"

    def __init__(self, fused: Fused) -> None:
        self.fused = fused
        outs = [r.type for r in fused.results]
        if not outs or any(not isinstance(t, TensorType) or t.shape is None for t in outs):
            raise Unsupported("outputs of unknown rank")
        shape = outs[0].shape
        if any(t.shape != shape for t in outs):  # type: ignore[union-attr]
            raise Unsupported("outputs of different shapes")
        self.out_shape = shape
        self.layout = plan_layout(shape, list(fused.body.block.args))
        self.name = kernel_name(fused)
        self.captured: list[np.ndarray] = []
        self.source = self._generate()
        self._fn: Any = None

    # -- source --------------------------------------------------------------------------------------
    def _generate(self) -> str:
        body = self.fused.body.block
        lay = self.layout
        k = len(lay.groups)
        names: dict[Value, str] = {}
        fresh = namer(names, {"tl", "triton", "offs", "mask", "pid"})

        params = [f"in{i}_ptr" for i in range(len(body.args))]
        params += [f"out{i}_ptr" for i in range(len(self.fused.results))]
        params += ["n_elements"]
        need_index = not lay.trivial and k > 1
        if need_index:
            params += [f"size{j}" for j in range(1, k)]
        lines = [
            "    pid = tl.program_id(0)",
            "    offs = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)",
            "    mask = offs < n_elements",
        ]
        if need_index:
            rest = "offs"
            for j in range(k - 1, 0, -1):
                lines.append(f"    i{j} = {rest} % size{j}")
                if j > 1:
                    lines.append(f"    r{j} = {rest} // size{j}")
                    rest = f"r{j}"
                else:
                    lines.append(f"    i0 = {rest} // size1")
        for i, (a, plan) in enumerate(zip(body.args, lay.inputs)):
            n = fresh(a, f"x{i}")
            ct = compute_type(a.type.dtype)  # type: ignore[attr-defined]
            if plan.broadcast is None:
                lines.append(f"    {n} = tl.load(in{i}_ptr).to({ct})")
                continue
            if not any(plan.broadcast):
                off = "offs"
            else:
                terms = [f"i{j} * in{i}_stride{j}" for j in range(k) if not plan.broadcast[j]]
                params += [f"in{i}_stride{j}" for j in range(k) if not plan.broadcast[j]]
                off = " + ".join(terms) if terms else "0"
            lines.append(f"    {n} = tl.load(in{i}_ptr + {off}, mask=mask).to({ct})")
        for op in body.ops:
            if isinstance(op, Yield):
                for i, v in enumerate(op.values):
                    lines.append(
                        f"    tl.store(out{i}_ptr + offs, {names[v]}.to(out{i}_ptr.dtype.element_ty), mask=mask)"
                    )
                break
            if isinstance(op, Constant):
                arr = op.value_array()
                if not _splat(arr):
                    raise Unsupported("a non-scalar constant inside a pointwise kernel")
                names[op.out] = literal(arr.reshape(-1)[0], op.out.type.dtype)  # type: ignore[attr-defined]
                continue
            expr = lower(op, [names[v] for v in op.operands])
            dt = op.results[0].type.dtype  # type: ignore[attr-defined]
            cast = "" if dt.is_float and dt.name != "f64" else f".to({compute_type(dt)})"
            lines.append(
                f"    {fresh(op.results[0], 'v')} = {expr}{cast}"
                if not cast
                else f"    {fresh(op.results[0], 'v')} = ({expr}){cast}"
            )
        header = [
            f"# Tritium pointwise kernel '{self.name}', generated from:",
            ir_comment(self.fused),
            "import triton",
            "import triton.language as tl",
            "",
            "",
            "@triton.jit",
            f"def {self.name}({', '.join(params)}, BLOCK: tl.constexpr):",
        ]
        self.params = params
        return finish_source("\n".join(header + lines) + "\n")

    def config_space(self, level: int) -> list[dict[str, int]]:
        from tritium.codegen.tuning import pointwise_space

        n = int(np.prod([d if isinstance(d, int) else 1024 for d in self.out_shape])) if self.out_shape else 1
        return pointwise_space(n, level)

    # -- launching ------------------------------------------------------------------------------------
    def load(self) -> Any:
        if self._fn is None:
            from tritium.codegen.triton_env import load_source

            self._fn = getattr(load_source(self.source, self.name), self.name)
        return self._fn

    def launch_args(self, inputs: list[Any], outputs: list[Any]) -> list[Any]:
        """Runtime arguments: pointers, element count, merged sizes, strides (from actual shapes)."""
        out_shape = tuple(outputs[0].shape)
        rank = len(out_shape)
        sizes = [int(np.prod([out_shape[d] for d in g])) for g in self.layout.groups]
        args: list[Any] = [*inputs, *outputs, int(np.prod(out_shape)) if rank else 1]
        if "size1" in self.params:
            args += sizes[1:]
        for x, plan in zip(inputs, self.layout.inputs):
            if plan.broadcast is None or not any(plan.broadcast):
                continue
            shape = (1,) * (rank - x.dim()) + tuple(x.shape)
            in_sizes = [int(np.prod([shape[d] for d in g])) for g in self.layout.groups]
            stride = 1
            strides = [0] * len(in_sizes)
            for j in range(len(in_sizes) - 1, -1, -1):
                strides[j] = stride
                stride *= in_sizes[j]
            args += [strides[j] for j in range(len(in_sizes)) if not plan.broadcast[j]]
        return args

    def __call__(self, inputs: list[Any], outputs: list[Any], config: dict[str, int] | None = None) -> None:
        fn = self.load()
        block = (config or {}).get("BLOCK", DEFAULT_BLOCK)
        n = outputs[0].numel()
        grid = (max(1, -(-n // block)),)
        fn[grid](
            *self.launch_args(inputs, outputs),
            BLOCK=block,
            num_warps=(config or {}).get("num_warps", 4),
            **pdl_kwargs(grid),
        )
