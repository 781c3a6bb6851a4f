"""Data-movement kernels: each output element reads the input element an index map names.

One program per block of output elements; the flat output index is split into coordinates, the op's
index map turns them into an input offset (transpose, expand, tile, slice, pad, gather, concat,
depth/space rearrangements), and masked loads cover padding and the pieces of a concatenation.
Shapes and the structural operands (starts, pads, repeats) are known when the kernel is generated,
so they are literals in the source. A split writes several outputs from one sweep of its input.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tritium.codegen.indexing import Unsupported
from tritium.codegen.lowering import finish_source, literal
from tritium.codegen.pointwise import ir_comment, kernel_name
from tritium.codegen.triton_env import pdl_kwargs
from tritium.ir.core import Operation, Value
from tritium.ir.dialects.kernel import Fused, Yield
from tritium.ir.dialects.nn.constant import Constant
from tritium.ir.opdef import constant_value
from tritium.ir.types import TensorType

BLOCK = 1024
SUPPORTED = {
    "nn.transpose",
    "nn.expand",
    "nn.tile",
    "nn.slice",
    "nn.pad",
    "nn.gather",
    "nn.gather_nd",
    "nn.concat",
    "nn.split",
    "nn.depth_to_space",
    "nn.space_to_depth",
}


def _static(v: Value) -> tuple[int, ...]:
    t = v.type
    if not isinstance(t, TensorType) or not t.is_static:
        raise Unsupported(f"data movement needs static shapes, found {t}")
    return tuple(t.shape)  # type: ignore[arg-type]


def _strides(shape: tuple[int, ...]) -> list[int]:
    out = [1] * len(shape)
    for d in range(len(shape) - 2, -1, -1):
        out[d] = out[d + 1] * shape[d + 1]
    return out


def _const_ints(op: Operation, v: Value | None, what: str) -> list[int] | None:
    if v is None:
        return None
    c = constant_value(v)
    if c is None:
        raise Unsupported(f"{op.name}: {what} is computed at run time")
    return [int(x) for x in np.asarray(c).reshape(-1)]


def _coords(shape: tuple[int, ...], flat: str, prefix: str) -> list[str]:
    """Lines computing ``{prefix}{d}`` for each dim from ``flat`` (static sizes as literals)."""
    lines, rest = [], flat
    for d in range(len(shape) - 1, 0, -1):
        lines.append(f"{prefix}{d} = {rest} % {shape[d]}")
        lines.append(f"{prefix}r{d} = {rest} // {shape[d]}")
        rest = f"{prefix}r{d}"
    if shape:
        lines.append(f"{prefix}0 = {rest}")
    return lines


def _offset(idx: list[str], shape: tuple[int, ...]) -> str:
    st = _strides(shape)
    terms = [f"{i} * {s}" if s != 1 else i for i, s, n in zip(idx, st, shape) if n != 1]
    return " + ".join(terms) if terms else "0"


class MovementKernel:
    kind = "data_movement"

    def __init__(self, fused: Fused) -> None:
        self.fused = fused
        ops = [op for op in fused.body.block.ops if not isinstance(op, (Yield, Constant))]
        if len(ops) != 1 or ops[0].name not in SUPPORTED:
            raise Unsupported("not a single supported data-movement op")
        self.op = ops[0]
        args = list(fused.body.block.args)
        self.args = args
        yielded = list(fused.yield_op().values)
        if yielded != list(self.op.results):
            raise Unsupported("the kernel's results are not the op's results")
        self.name = kernel_name(fused)
        self.captured: list[np.ndarray] = []  # constants the kernel reads from memory
        self._captured_tensors: list[Any] = []
        body = getattr(self, "_" + self.op.name.split(".")[1])()
        self.out_shapes = [_static(r) for r in self.op.results]
        params = [f"in{i}_ptr" for i in range(len(args))] + [f"out{i}_ptr" for i in range(len(yielded))]
        params += [f"cap{i}_ptr" for i in range(len(self.captured))]
        header = [
            f"# Tritium data-movement kernel '{self.name}', generated from:",
            ir_comment(fused),
            "import triton",
            "import triton.language as tl",
            "",
            "",
            "@triton.jit",
            f"def {self.name}({', '.join(params)}, BLOCK: tl.constexpr):",
            "    pid = tl.program_id(0)",
        ]
        self.n_iter = int(np.prod(self.iter_shape)) if self.iter_shape else 1
        # 32-bit index arithmetic where every index fits (its divisions by the shape's constants are
        # a few instructions; 64-bit ones take tens: a channels-and-borders pad of 6.8M f16 elements
        # took 17 us, 4x its copy time, on an H200)
        sizes = [self.n_iter, *(int(np.prod(_static(a))) for a in args if isinstance(a.type, TensorType))]
        wide = max(sizes) + 4096 >= 2**31
        header.append(f"    offs = pid{'.to(tl.int64)' if wide else ''} * BLOCK + tl.arange(0, BLOCK)")
        self.source = finish_source(
            "\n".join(header + [f"    mask = offs < {self.n_iter}"] + ["    " + ln for ln in body]) + "\n"
        )
        self._fn: Any = None

    def _in(self, v: Value) -> str:
        if v not in self.args:
            raise Unsupported("a data-movement input computed inside the kernel")
        return f"in{self.args.index(v)}_ptr"

    def _gathered(self, src: Value, in_off: str, extra_mask: str = "", other: str = "0") -> list[str]:
        """Load from ``src`` at ``in_off`` and store to the (only) output at ``offs``."""
        mask = f"mask & ({extra_mask})" if extra_mask else "mask"
        oth = f", other={other}" if extra_mask else ""
        if not any(t in in_off for t in ("o", "i", "h", "w", "c")) and "tl.load" not in in_off:
            in_off = f"offs * 0 + {in_off}"  # a single source element: broadcast its address over the block
        return [
            f"val = tl.load({self._in(src)} + {in_off}, mask={mask}{oth})",
            "tl.store(out0_ptr + offs, val.to(out0_ptr.dtype.element_ty), mask=mask)",
        ]

    # -- index maps, one per op -----------------------------------------------------------------------
    def _transpose(self) -> list[str]:
        x = self.op.operand(0)
        xs, out = _static(x), _static(self.op.results[0])
        self.iter_shape = out
        perm = self.op.attributes["perm"]
        st = _strides(xs)
        terms = [f"o{d} * {st[perm[d]]}" for d in range(len(out)) if xs[perm[d]] != 1]
        return _coords(out, "offs", "o") + self._gathered(x, " + ".join(terms) or "0")

    def _expand(self) -> list[str]:
        x = self.op.operand(0)
        xs, out = _static(x), _static(self.op.results[0])
        self.iter_shape = out
        pad = (1,) * (len(out) - len(xs)) + xs
        idx = [f"o{d}" if pad[d] != 1 else "0" for d in range(len(out))]
        return _coords(out, "offs", "o") + self._gathered(x, _offset(idx, pad))

    def _tile(self) -> list[str]:
        x = self.op.operand(0)
        xs, out = _static(x), _static(self.op.results[0])
        self.iter_shape = out
        idx = [f"(o{d} % {xs[d]})" for d in range(len(out))]
        return _coords(out, "offs", "o") + self._gathered(x, _offset(idx, xs))

    def _slice(self) -> list[str]:
        op = self.op
        x = op.operand(0)
        xs, out = _static(x), _static(op.results[0])
        self.iter_shape = out
        starts = _const_ints(op, op.starts, "starts")  # type: ignore[attr-defined]
        axes = _const_ints(op, op.axes, "axes") or list(range(len(starts)))  # type: ignore[attr-defined,arg-type]
        steps = _const_ints(op, op.steps, "steps") or [1] * len(starts)  # type: ignore[attr-defined,arg-type]
        begin, step = [0] * len(xs), [1] * len(xs)
        for s, a, k in zip(starts, axes, steps):  # type: ignore[arg-type]
            a %= len(xs)
            n = xs[a]
            s = s + n if s < 0 else s
            s = min(max(s, 0), n - 1 if k < 0 else n)
            begin[a], step[a] = s, k
        idx = [
            f"({begin[d]} + o{d} * {step[d]})" if (begin[d], step[d]) != (0, 1) else f"o{d}"
            for d in range(len(xs))
        ]
        return _coords(out, "offs", "o") + self._gathered(x, _offset(idx, xs))

    def _pad(self) -> list[str]:
        op = self.op
        x = op.operand(0)
        xs, out = _static(x), _static(op.results[0])
        self.iter_shape = out
        pads = _const_ints(op, op.pads, "pads")  # type: ignore[attr-defined]
        axes = _const_ints(op, op.axes, "axes") or list(range(len(xs)))  # type: ignore[attr-defined,arg-type]
        begin = [0] * len(xs)
        for j, a in enumerate(axes):
            begin[a % len(xs)] = pads[j]  # type: ignore[index]
        mode = op.attributes.get("mode", "constant")
        lines = _coords(out, "offs", "o")
        inside = []
        for d in range(len(xs)):
            lines.append(f"i{d} = o{d} - {begin[d]}")
            if mode == "edge":
                lines.append(f"i{d} = tl.minimum(tl.maximum(i{d}, 0), {xs[d] - 1})")
            elif mode == "reflect":
                lines.append(f"i{d} = tl.where(i{d} < 0, -i{d}, i{d})")
                lines.append(f"i{d} = tl.where(i{d} >= {xs[d]}, {2 * (xs[d] - 1)} - i{d}, i{d})")
            elif mode == "wrap":
                lines.append(f"i{d} = ((i{d} % {xs[d]}) + {xs[d]}) % {xs[d]}")
            else:
                inside.append(f"(i{d} >= 0) & (i{d} < {xs[d]})")
        off = _offset([f"i{d}" for d in range(len(xs))], xs)
        if mode != "constant" or not inside:
            return lines + self._gathered(x, off)
        cv = op.constant_value  # type: ignore[attr-defined]
        value = 0 if cv is None else constant_value(cv)
        if value is None:  # a run-time pad value: one scalar load
            lines.append(f"pad_value = tl.load({self._in(cv)})")
            return lines + self._gathered(x, off, " & ".join(inside), "pad_value")
        other = literal(np.asarray(value).reshape(-1)[0], x.type.dtype)  # type: ignore[attr-defined]
        return lines + self._gathered(x, off, " & ".join(inside), other)

    def _gather(self) -> list[str]:
        op = self.op
        data, indices = op.operand(0), op.operand(1)
        ds, ish, out = _static(data), _static(indices), _static(op.results[0])
        self.iter_shape = out
        a = op.attributes.get("axis", 0) % len(ds)
        lines = _coords(out, "offs", "o")
        k = len(ish)
        fixed = constant_value(indices) if indices not in self.args else None
        if fixed is not None and fixed.size == 1:
            lines.append(f"g = {int(fixed.reshape(-1)[0])}")
        elif fixed is not None:  # a constant index table: captured, uploaded once, passed like an input
            self.captured.append(np.ascontiguousarray(fixed.astype(np.int64)))
            idx_off = _offset([f"o{a + j}" for j in range(k)], ish)
            lines.append(f"g = tl.load(cap0_ptr + {idx_off}, mask=mask, other=0)")
        else:
            idx_off = _offset([f"o{a + j}" for j in range(k)], ish)
            lines.append(f"g = tl.load({self._in(indices)} + {idx_off}, mask=mask, other=0).to(tl.int64)")
        lines.append(f"g = tl.where(g < 0, g + {ds[a]}, g)")
        src = [f"o{d}" for d in range(a)] + ["g"] + [f"o{d + k - 1}" for d in range(a + 1, len(ds))]
        return lines + self._gathered(data, _offset(src, ds))

    def _gather_nd(self) -> list[str]:
        """out[b..., i..., t...] = data[b..., idx[b..., i..., 0], ..., idx[b..., i..., K-1], t...]."""
        op = self.op
        data, indices = op.operand(0), op.operand(1)
        ds, ish, out = _static(data), _static(indices), _static(op.results[0])
        self.iter_shape = out
        b = int(op.attributes.get("batch_dims", 0))
        q, k = len(ish) - 1, ish[-1]
        lines = _coords(out, "offs", "o")
        fixed = constant_value(indices) if indices not in self.args else None
        if fixed is not None:  # a constant index table: captured, uploaded once, passed like an input
            ptr = f"cap{len(self.captured)}_ptr"
            self.captured.append(np.ascontiguousarray(fixed.astype(np.int64)))
        else:
            ptr = self._in(indices)
        for j in range(k):
            idx_off = _offset([f"o{d}" for d in range(q)] + [str(j)], ish)
            lines.append(f"g{j} = tl.load({ptr} + {idx_off}, mask=mask, other=0).to(tl.int64)")
            lines.append(f"g{j} = tl.where(g{j} < 0, g{j} + {ds[b + j]}, g{j})")
        src = (
            [f"o{d}" for d in range(b)]
            + [f"g{j}" for j in range(k)]
            + [f"o{q + d}" for d in range(len(ds) - b - k)]
        )
        return lines + self._gathered(data, _offset(src, ds))

    def _concat(self) -> list[str]:
        op = self.op
        out = _static(op.results[0])
        self.iter_shape = out
        a = op.attributes["axis"] % len(out)
        lines = _coords(out, "offs", "o") + ["val = tl.zeros([BLOCK], dtype=out0_ptr.dtype.element_ty)"]
        start = 0
        for v in op.operands:
            vs = _static(v)
            n = vs[a]
            if n == 0:
                continue
            idx = [f"(o{d} - {start})" if d == a else f"o{d}" for d in range(len(out))]
            sel = f"(o{a} >= {start}) & (o{a} < {start + n})"
            lines.append(f"part = tl.load({self._in(v)} + {_offset(idx, vs)}, mask=mask & {sel}, other=0)")
            lines.append(f"val = tl.where({sel}, part.to(out0_ptr.dtype.element_ty), val)")
            start += n
        return lines + ["tl.store(out0_ptr + offs, val, mask=mask)"]

    def _split(self) -> list[str]:
        op = self.op
        x = op.operand(0)
        xs = _static(x)
        self.iter_shape = xs  # sweep the input; each element goes to its output
        a = op.attributes.get("axis", 0) % len(xs)
        lines = _coords(xs, "offs", "o") + [f"val = tl.load({self._in(x)} + offs, mask=mask)"]
        start = 0
        for i, r in enumerate(op.results):
            rs = _static(r)
            n = rs[a]
            idx = [f"(o{d} - {start})" if d == a else f"o{d}" for d in range(len(xs))]
            sel = f"(o{a} >= {start}) & (o{a} < {start + n})"
            lines.append(
                f"tl.store(out{i}_ptr + {_offset(idx, rs)}, val.to(out{i}_ptr.dtype.element_ty), mask=mask & {sel})"
            )
            start += n
        return lines

    def _depth_to_space(self) -> list[str]:
        op = self.op
        x = op.operand(0)
        xs, out = _static(x), _static(op.results[0])
        self.iter_shape = out
        b = op.attributes["blocksize"]
        c2 = out[1]
        lines = _coords(out, "offs", "o") + [
            f"h = o2 // {b}",
            f"i = o2 % {b}",
            f"w = o3 // {b}",
            f"j = o3 % {b}",
        ]
        if op.attributes.get("mode", "DCR") == "DCR":
            lines.append(f"c = (i * {b} + j) * {c2} + o1")
        else:
            lines.append(f"c = o1 * {b * b} + i * {b} + j")
        return lines + self._gathered(x, _offset(["o0", "c", "h", "w"], xs))

    def _space_to_depth(self) -> list[str]:
        op = self.op
        x = op.operand(0)
        xs, out = _static(x), _static(op.results[0])
        self.iter_shape = out
        b = op.attributes["blocksize"]
        c = xs[1]
        if op.attributes.get("mode", "DCR") == "DCR":
            split = [f"i = o1 // {b * c}", f"j = (o1 // {c}) % {b}", f"c = o1 % {c}"]
        else:
            split = [f"c = o1 // {b * b}", f"i = (o1 // {b}) % {b}", f"j = o1 % {b}"]
        lines = _coords(out, "offs", "o") + split + [f"h = o2 * {b} + i", f"w = o3 * {b} + j"]
        return lines + self._gathered(x, _offset(["o0", "c", "h", "w"], xs))

    # -- launching ------------------------------------------------------------------------------------
    def __call__(self, inputs: list[Any], outputs: list[Any], config: dict[str, int] | None = None) -> None:
        if self._fn is None:
            from tritium.codegen.triton_env import load_source

            self._fn = getattr(load_source(self.source, self.name), self.name)
        if len(self._captured_tensors) != len(self.captured):
            import torch

            dev = outputs[0].device
            self._captured_tensors = [torch.from_numpy(c).to(dev) for c in self.captured]
        block = (config or {}).get("BLOCK", BLOCK)
        grid = (max(1, -(-self.n_iter // block)),)
        self._fn[grid](
            *inputs,
            *outputs,
            *self._captured_tensors,
            BLOCK=block,
            num_warps=(config or {}).get("num_warps", 4),
            **pdl_kwargs(grid),
        )

    def config_space(self, level: int) -> list[dict[str, int]]:
        return [{"BLOCK": b, "num_warps": 4} for b in (1024, 512, 2048)][: max(1, level)]
