"""Helpers for writing op cases: IR text builders, random inputs, torch conversion."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

Inputs = Callable[[np.random.Generator], list[np.ndarray]]


@dataclass
class OpCase:
    """IR text (a func @main using the op), an input generator and an independent oracle.

    ``ops`` names other ops the case also covers (beyond the key it is filed under).
    """

    ir: str
    inputs: Inputs
    oracle: Callable[..., list[np.ndarray]]
    rtol: float = 1e-5
    ops: tuple[str, ...] = field(default=())


def T(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x))


def N(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


def ty(shape: tuple[int, ...], dt: str = "f32") -> str:
    return "tensor<" + "".join(f"{d}x" for d in shape) + dt + ">"


def rand(*shape: int, dtype=np.float32, lo: float = -2, hi: float = 2) -> Inputs:
    return lambda g: [g.uniform(lo, hi, shape).astype(dtype)]


def unary(name: str, fn, shape=(3, 5), lo=-2.0, hi=2.0) -> OpCase:
    t = ty(shape)
    ir = f"func.func @main(%x: {t}) -> {t} {{\n  %y = {name} %x : {t}\n  func.return %y : {t}\n}}"
    return OpCase(ir, rand(*shape, lo=lo, hi=hi), lambda x: [N(fn(T(x)))])


def binary(name: str, fn, a=(2, 3, 4), b=(3, 1), lo=-2.0, hi=2.0) -> OpCase:
    out = tuple(np.broadcast_shapes(a, b))
    ir = (
        f"func.func @main(%a: {ty(a)}, %b: {ty(b)}) -> {ty(out)} {{\n"
        f"  %y = {name} %a, %b : ({ty(a)}, {ty(b)}) -> {ty(out)}\n  func.return %y : {ty(out)}\n}}"
    )
    return OpCase(
        ir,
        lambda g: [g.uniform(lo, hi, a).astype(np.float32), g.uniform(lo, hi, b).astype(np.float32)],
        lambda x, y: [N(fn(T(x), T(y)))],
    )


def reduce(name: str, fn, axes=(1,), keepdims=True, shape=(2, 3, 4)) -> OpCase:
    out = (
        tuple(1 if i in axes else d for i, d in enumerate(shape))
        if keepdims
        else tuple(d for i, d in enumerate(shape) if i not in axes)
    )
    kd = "true" if keepdims else "false"
    at = ty((len(axes),), "i64")
    ir = (
        f"func.func @main(%x: {ty(shape)}) -> {ty(out)} {{\n"
        f"  %axes = nn.constant dense<{list(axes)}> : {at}\n"
        f"  %y = {name} %x, %axes {{keepdims = {kd}}} : ({ty(shape)}, {at}) -> {ty(out)}\n"
        f"  func.return %y : {ty(out)}\n}}"
    )
    return OpCase(ir, rand(*shape), lambda x: [N(fn(T(x), axes, keepdims))])
