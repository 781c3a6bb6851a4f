"""convert-layout: run 2-D convolutions channels-last (NHWC) inside, NCHW only at the boundary.

Each NCHW conv becomes ``transpose(conv_nhwc(transpose(x), w'), to NCHW)`` with its weight
permuted once (a new constant). The "to NCHW" transposes then sink through what follows them —
elementwise ops (bias, activations, residual adds) and reductions over the channels —
until they meet the "to NHWC" transpose of the next conv and cancel, or reach the graph outputs.
Max and average pools between convs run channels-last too. A transpose that only moves size-1
dimensions becomes a reshape (a view). What is left is the layout change at the graph input, at the
outputs, and wherever an op needs NCHW (reductions over H and W, e.g. global pooling). A strided
convolution over at most four channels (an RGB stem) becomes a stride-1 convolution of the
space-to-depth image (``space_to_depth``).

    %t = nn.transpose %x {perm = [0, 2, 3, 1]}
    %y = nn.conv %t, %w_khwc {layout = "NHWC", ...}
    %o = nn.transpose %y {perm = [0, 3, 1, 2]}
    %r = nn.relu %o                              ->   %r = nn.relu %y ; %o = nn.transpose %r {...}
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tritium.ir.attributes import ResourceRef
from tritium.ir.core import Value
from tritium.ir.dialects import nn
from tritium.ir.opdef import OP_REGISTRY, Elementwise, constant_value
from tritium.ir.rewriter import Rewriter
from tritium.ir.types import TensorType
from tritium.passes import space_to_depth
from tritium.passes.base import Pass, register_pass
from tritium.passes.patterns import apply_patterns_greedily, int64_constant, pattern

TO_NHWC = (0, 2, 3, 1)
TO_NCHW = (0, 3, 1, 2)


def _compose(p: tuple[int, ...], q: tuple[int, ...]) -> tuple[int, ...]:
    """The single permutation equal to transposing by ``p`` and then by ``q``."""
    return tuple(p[i] for i in q)


def _inverse(p: tuple[int, ...]) -> tuple[int, ...]:
    inv = [0] * len(p)
    for i, j in enumerate(p):
        inv[j] = i
    return tuple(inv)


def _transposed(v: Value) -> tuple[Value, tuple[int, ...]] | None:
    op = v.defining_op
    if isinstance(op, nn.Transpose):
        return op.x, tuple(op.perm)
    return None


@pattern
def compose_transposes(op: nn.Transpose, rw: Rewriter) -> bool:
    """transpose(transpose(x, p), q)  ->  transpose(x, p∘q), or x when that is the identity"""
    inner = _transposed(op.x)
    if inner is None:
        return False
    x, p = inner
    perm = _compose(p, tuple(op.perm))
    if perm == tuple(range(len(perm))):
        rw.replace_op(op, [x])
    else:
        rw.replace_op_with(op, nn.Transpose, x, perm=perm)
    return True


@pattern
def transpose_of_unit_dims_is_reshape(op: nn.Transpose, rw: Rewriter) -> bool:
    """transpose(x, p) that keeps the order of the dimensions larger than 1  ->  reshape(x)"""
    t = op.x.type
    if not isinstance(t, TensorType) or not t.is_static or op.x.defining_op is None:
        return False
    big = [d for d in op.perm if t.shape[d] != 1]  # type: ignore[index]
    if big != sorted(big):
        return False
    out = op.results[0].type.shape  # type: ignore[attr-defined]
    with rw.at(before=op):
        shape = rw.insert(nn.Constant.of(np.asarray(out, np.int64), None, "shape", op.loc)).out
    rw.replace_op_with(op, nn.Reshape, op.x, shape)
    return True


def _sink_operand(v: Value, perm: tuple[int, ...], before: Any) -> Value | np.ndarray | None:
    """``v`` expressed before the transpose ``perm``: the transpose's input, an existing permuted copy,
    ``v`` itself for a scalar, or (an array) a constant permuted back; None when ``v`` cannot be.
    Nothing is inserted here, so a rewrite that fails on a later operand leaves the IR untouched."""
    inner = _transposed(v)
    if inner is not None and inner[1] == perm:
        return inner[0]
    inv = _inverse(perm)
    for use in v.uses:  # v's permuted copy already exists (the input of the next conv): reuse it
        if (
            isinstance(use.op, nn.Transpose)
            and tuple(use.op.perm) == inv
            and use.op.parent is before.parent
            and use.op.is_before_in_block(before)
        ):
            return use.op.results[0]
    t = v.type
    if not isinstance(t, TensorType) or t.shape is None:
        return None
    if t.rank == 0 or all(d == 1 for d in t.shape):
        if t.rank == 0 or t.rank == len(perm):
            return v  # a scalar broadcasts the same either way (all-ones shapes are permutation-invariant)
        return None
    c = constant_value(v)
    if c is None or t.rank > len(perm):
        return None
    c = np.asarray(c).reshape((1,) * (len(perm) - t.rank) + tuple(t.shape))  # broadcast rank first
    return np.ascontiguousarray(np.transpose(c, inv))


@pattern
def sink_transpose_through_elementwise(op: nn.Add, rw: Rewriter) -> bool:  # root refined below
    """op(transpose(a, p), transpose(b, p) | constant | scalar)  ->  transpose(op(a, b'), p)"""
    return _sink_elementwise(op, rw)


def _sink_elementwise(op: Any, rw: Rewriter) -> bool:
    if Elementwise not in op.TRAITS or len(op.results) != 1 or not op.operands:
        return False
    if getattr(op, "_segments", None) is not None:  # an optional operand left out (clip with one bound)
        return False
    # Only the conversions back to NCHW sink (toward the next conv's conversion to NHWC, where
    # they cancel); sinking both directions would undo itself.
    perm = TO_NCHW
    if not any((t := _transposed(v)) is not None and t[1] == perm for v in op.operands):
        return False
    out_t = op.results[0].type
    if not isinstance(out_t, TensorType) or out_t.rank != len(perm):
        return False
    sunk = [_sink_operand(v, perm, op) for v in op.operands]
    if any(x is None for x in sunk):
        return False
    with rw.at(before=op):
        new_operands = [
            rw.insert(nn.Constant.of(x, op.module() if x.size > 16 else None, "const.nhwc", op.loc)).out
            if isinstance(x, np.ndarray)
            else x
            for x in sunk
        ]
        declared = {k: v for k, v in op.attributes.items() if k in type(op).ATTRS}
        inner_op = type(op).build(*new_operands, **declared, loc=op.loc)
        inner_op.attributes.update(op.attributes)  # discardable ones too (a precision pin)
        rw.insert(inner_op)
        back = rw.create(nn.Transpose, inner_op.results[0], perm=perm, loc=op.loc)
    rw.replace_op(op, [back.results[0]])
    return True


@pattern
def sink_transpose_through_reduce(op: nn.ReduceMean, rw: Rewriter) -> bool:
    """reduce(transpose(x, p), axes, keepdims)  ->  transpose(reduce(x, p[axes], keepdims), p)
    (when the permuted axes are one block: the trailing axes (a row reduction) or axes followed by
    kept ones (a column reduction: global pooling over H and W of NHWC reads C-wide rows))"""
    inner = _transposed(op.x)
    axes = constant_value(op.axes) if op.axes is not None else None
    if inner is None or inner[1] != TO_NCHW or axes is None or not op.keepdims:
        return False
    x, perm = inner
    moved = np.asarray(sorted(perm[int(a) % len(perm)] for a in np.asarray(axes).reshape(-1)), np.int64)
    if not len(moved) or list(moved) != list(range(moved[0], moved[0] + len(moved))):
        return False  # scattered axes: the kernels reduce one block of axes, keep the NCHW copy
    with rw.at(before=op):
        ax = rw.insert(nn.Constant.of(moved, None, "axes", op.loc)).out
        red = rw.create(
            type(op), x, ax, keepdims=True, noop_with_empty_axes=op.noop_with_empty_axes, loc=op.loc
        )
        back = rw.create(nn.Transpose, red.results[0], perm=perm, loc=op.loc)
    rw.replace_op(op, [back.results[0]])
    return True


@pattern
def pool_channels_last(op: nn.MaxPool, rw: Rewriter) -> bool:
    """pool(transpose(x, to NCHW))  ->  transpose(pool_nhwc(x), to NCHW)
    (2-D max and average pools; a max pool only when its indices are unused)"""
    inner = _transposed(op.x)
    if inner is None or inner[1] != TO_NCHW or op.layout == "NHWC" or len(op.kernel_shape) != 2:
        return False
    if len(op.results) > 1 and op.results[1].uses:
        return False
    attrs = {k: v for k, v in op.attributes.items() if k != "layout"}
    with rw.at(before=op):
        pool = rw.create(type(op), inner[0], **attrs, layout="NHWC", loc=op.loc)
        back = rw.create(nn.Transpose, pool.results[0], perm=TO_NCHW, loc=op.loc)
    rw.replace_op(op, [back.results[0]] + [None] * (len(op.results) - 1))
    return True


def _elementwise_patterns() -> list[Any]:
    """The sinking pattern, once per elementwise op class (patterns are keyed by their root class)."""
    out = []
    for name, cls in sorted(OP_REGISTRY.items()):
        if name.startswith("nn.") and Elementwise in cls.TRAITS:
            out.append(
                replace(
                    sink_transpose_through_elementwise, name=f"sink_transpose_through_{name[3:]}", root=cls
                )
            )
    return out


def _reduce_patterns() -> list[Any]:

    return [
        replace(sink_transpose_through_reduce, name=f"sink_transpose_through_{cls.name[3:]}", root=cls)
        for cls in (nn.ReduceMean, nn.ReduceMax, nn.ReduceSum, nn.ReduceMin)
    ]


def _is_pointwise(op: nn.Conv, w: np.ndarray) -> bool:
    """A 1x1 convolution with no padding or groups: in NHWC, a matmul of the pixels ``(N, H, W, C)``
    by the weight ``(C, M)`` (the GEMM template folds N, H, W into its rows); with strides, of
    every stride-th pixel (a slice first: ResNet's downsampling shortcuts; on an H200 at batch 32
    the implicit-GEMM kernel took 0.019-0.024 ms for each of these 6.6-GFLOP layers, half the
    GEMM's rate)."""
    return w.shape[2:] == (1, 1) and not any(op.pads) and op.group == 1


def _strided_pixels(op: nn.Conv, rw: Rewriter) -> list[Value]:
    """The slice operands (starts, ends, axes, steps) taking every stride-th row and column of NHWC."""
    big = 2**62  # to the end (ONNX clamps)
    return [int64_constant(rw, op, v) for v in ([0, 0], [big, big], [1, 2], list(op.strides))]


QUANTIZED = {
    nn.ConvInteger: (nn.ConvInteger, nn.MatMulInteger),
    nn.ConvFloat8: (nn.ConvFloat8, nn.MatMulFloat8),
}
"""The quantized convolutions convert-layout moves too: (the convolution, the product a 1x1 one becomes)."""


def _product(rw: Rewriter, op: Any, cls: Any, x: Value, w: Value, **attrs: Any) -> Value:
    """A quantized product of class ``cls`` like ``op``: its input zero point (integers; one value,
    which the layout does not change) and its pinned precision."""
    zeros = (op.x_zero_point, None) if cls in (nn.ConvInteger, nn.MatMulInteger) else ()
    new = rw.create(cls, x, w, *zeros, **attrs, loc=op.loc)
    new.attributes.update({k: v for k, v in op.attributes.items() if k == "precision"})
    return new.results[0]


@register_pass
@dataclass(frozen=True)
class ConvertLayout(Pass):
    """Run 2-D convolutions in NHWC.

    Requires: nn IR. Guarantees: every 2-D ``nn.conv`` (and ``nn.conv_integer`` without a weight zero
    point, whose 1x1 form becomes an ``nn.matmul_integer``; ``nn.conv_float8``, ``nn.matmul_float8``)
    whose weight is a constant has
    ``layout = "NHWC"`` (weight permuted to ``(M, R, S, C)``), except 1x1 convolutions with no
    padding and one group, which become a matmul by the ``(C, M)`` weight (plus the bias) on the
    channels-last pixels (every stride-th one, sliced), and strided convolutions over at most 4
    channels, which run over the space-to-depth image; the layout changes are transposes
    that sink and cancel between convs, so what remains sits at the graph boundary or around ops
    that need NCHW. Values are unchanged (for the space-to-depth stems, finite ones: see
    ``space_to_depth``).
    """

    name = "convert-layout"

    def run(self, module: Any) -> dict[str, int]:
        rw = Rewriter()
        converted = 0
        for op in list(module.walk()):
            quantized = type(op) in QUANTIZED  # (a product of its own type)
            if not isinstance(op, (nn.Conv, *QUANTIZED)) or op.layout == "NHWC" or op.parent is None:
                continue
            if isinstance(op, nn.ConvInteger) and op.w_zero_point is not None:
                continue
            zx = getattr(op, "x_zero_point", None)  # (the stem's padding value)

            x_t, w = op.x.type, constant_value(op.w)
            if not isinstance(x_t, TensorType) or x_t.rank != 4 or w is None or np.asarray(w).ndim != 4:
                continue
            src = op.w.defining_op.attributes.get("value") if op.w.defining_op is not None else None
            pointwise = _is_pointwise(op, np.asarray(w))
            stem = (
                None if pointwise or isinstance(op, nn.ConvFloat8) else space_to_depth.plan(op, np.asarray(w))
            )
            name = (src.name if isinstance(src, ResourceRef) else op.w.name_hint or "conv.w") + (
                ".t" if pointwise else ".s2d" if stem else ".nhwc"
            )
            if pointwise:  # a 1x1 conv is a GEMM over the pixels: weight (C, M)
                w2 = np.ascontiguousarray(np.asarray(w)[:, :, 0, 0].T)
            elif stem:  # a strided conv over few channels: stride 1 over the space-to-depth image
                w2 = space_to_depth.weight(np.asarray(w), stem[0], stem[1])
            else:
                w2 = np.ascontiguousarray(np.transpose(np.asarray(w), TO_NHWC))
            with rw.at(before=op):
                wv = rw.insert(nn.Constant.of(w2, module, name, op.loc))
                if isinstance(src, ResourceRef):  # provenance for refit: what the source was made of
                    wv.attributes["derived_from"] = op.w.defining_op.attributes.get("derived_from") or (
                        "nhwc",
                        src.name,
                    )
                wv.out.name_hint = name
                if stem:
                    xs = space_to_depth.input_nhwc(op, rw, stem, zx)
                    unpadded = {"strides": [1, 1], "pads": [0, 0, 0, 0], "dilations": [1, 1], "group": 1}
                    if quantized:
                        y = _product(rw, op, type(op), xs, wv.out, **unpadded, layout="NHWC")
                    else:
                        y = rw.create(nn.Conv, xs, wv.out, op.b, **unpadded, layout="NHWC", loc=op.loc).out
                    back = rw.create(nn.Transpose, y, perm=TO_NCHW, loc=op.loc)
                    rw.replace_op(op, [back.out])
                    converted += 1
                    continue
                xt = rw.create(nn.Transpose, op.x, perm=TO_NHWC, loc=op.loc)
                if pointwise and tuple(op.strides) != (1, 1):  # every stride-th pixel
                    xt = rw.create(nn.Slice, xt.out, *_strided_pixels(op, rw), loc=op.loc)
                if pointwise and quantized:
                    y = _product(rw, op, QUANTIZED[type(op)][1], xt.out, wv.out)
                elif pointwise:
                    y = rw.create(nn.MatMul, xt.out, wv.out, loc=op.loc).results[0]
                    if op.b is not None:
                        y = rw.create(nn.Add, y, op.b, loc=op.loc).results[0]
                elif quantized:
                    attrs = {k: v for k, v in op.attributes.items() if k not in ("layout", "precision")}
                    y = _product(rw, op, type(op), xt.out, wv.out, **attrs, layout="NHWC")
                else:
                    attrs = {k: v for k, v in op.attributes.items() if k != "layout"}
                    y = rw.create(nn.Conv, xt.out, wv.out, op.b, **attrs, layout="NHWC", loc=op.loc).out
                back = rw.create(nn.Transpose, y, perm=TO_NCHW, loc=op.loc)
            rw.replace_op(op, [back.out])
            converted += 1
        fired = apply_patterns_greedily(
            module,
            [
                compose_transposes,
                transpose_of_unit_dims_is_reshape,
                pool_channels_last,
                replace(pool_channels_last, name="average_pool_channels_last", root=nn.AveragePool),
                *_elementwise_patterns(),
                *_reduce_patterns(),
            ],
        )
        left = sum(1 for op in module.walk() if isinstance(op, nn.Transpose))
        return {"convs converted": converted, "transposes sunk": sum(fired.values()), "transposes left": left}
