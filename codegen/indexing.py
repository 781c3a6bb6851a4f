"""Index arithmetic shared by the kernel generators: how an operand's elements are found from the
coordinates of an iteration space, with broadcasting.

A space is split into *segments* (for a row reduction: the row dims and the reduced dims). Within a
segment, adjacent dims merge when every operand broadcasts the same way in both, so most kernels
index with one or two numbers per segment. Operands are contiguous; their strides per merged dim
are computed at launch time from their actual shapes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tritium.ir.types import Dim


class Unsupported(Exception):
    """The group has no generated kernel (the runtime falls back to the host reference)."""


@dataclass
class Segment:
    """Merged dims of one segment: ``groups[j]`` are original dim indices (of the space)."""

    name: str
    groups: list[list[int]]


@dataclass
class OperandIndex:
    """Per merged dim of each segment: does the operand broadcast there? ``scalar``: one element."""

    rank: int
    broadcast: list[list[bool]]  # [segment][merged dim]
    scalar: bool


def broadcast_pattern(shape: tuple[Dim, ...], space: tuple[Dim, ...]) -> list[bool]:
    if len(shape) > len(space):
        raise Unsupported(f"operand of rank {len(shape)} in a space of rank {len(space)}")
    padded = (1,) * (len(space) - len(shape)) + tuple(shape)
    out = []
    for d, s in zip(padded, space):
        if d == 1 and s != 1:
            out.append(True)
        elif d == s or not isinstance(d, int) or not isinstance(s, int):
            out.append(False)
        else:
            raise Unsupported(f"operand shape {shape} does not broadcast to {space}")
    return out


def merge(space: tuple[Dim, ...], dims: list[int], patterns: list[list[bool]]) -> list[list[int]]:
    """Merge adjacent ``dims`` of ``space`` that every pattern treats alike (size-1 dims go anywhere)."""
    groups: list[list[int]] = []
    rep: list[int | None] = []
    for d in dims:
        if space[d] == 1 and groups and groups[-1][-1] == d - 1:
            groups[-1].append(d)
            continue
        r = rep[-1] if rep else None
        adjacent = bool(groups) and groups[-1][-1] == d - 1  # only neighbouring dims share a stride
        if adjacent and (r is None or all(p[d] == p[r] for p in patterns)):
            groups[-1].append(d)
            if r is None and space[d] != 1:
                rep[-1] = d
        else:
            groups.append([d])
            rep.append(d if space[d] != 1 else None)
    return groups


class Space:
    """An iteration space with segments, and the operands read from it."""

    def __init__(
        self,
        shape: tuple[Dim, ...],
        segments: list[tuple[str, list[int]]],
        operand_shapes: list[tuple[Dim, ...]],
    ) -> None:
        self.shape = shape
        patterns = [broadcast_pattern(s, shape) for s in operand_shapes]
        self.scalars = [all(d == 1 for d in s) for s in operand_shapes]
        live = [p for p, sc in zip(patterns, self.scalars) if not sc]
        self.segments = [Segment(name, merge(shape, dims, live)) for name, dims in segments]
        self.operands: list[OperandIndex] = []
        for s, p, sc in zip(operand_shapes, patterns, self.scalars):
            per_seg = [
                [all(p[d] or shape[d] == 1 for d in g) and any(p[d] for d in g) for g in seg.groups]
                for seg in self.segments
            ]
            self.operands.append(OperandIndex(len(s), per_seg, sc))

    def varies(self, i: int, seg: int) -> bool:
        """Whether operand ``i`` changes along segment ``seg`` (it broadcasts along it otherwise)."""
        op = self.operands[i]
        return not op.scalar and not all(op.broadcast[seg])

    # -- code ---------------------------------------------------------------------------------------
    def decompose(self, seg: int, flat: str, prefix: str) -> list[str]:
        """Lines computing ``{prefix}{j}`` (one per merged dim) from the flat index ``flat``."""
        groups = self.segments[seg].groups
        k = len(groups)
        if k == 0:
            return []
        if k == 1:
            return [f"{prefix}0 = {flat}"]
        lines, rest = [], flat
        for j in range(k - 1, 0, -1):
            lines.append(f"{prefix}{j} = {rest} % {prefix}size{j}")
            nxt = f"{prefix}rest{j}"
            lines.append(f"{nxt} = {rest} // {prefix}size{j}")
            rest = nxt
        lines.append(f"{prefix}0 = {rest}")
        return lines

    def size_params(self, seg: int, prefix: str) -> list[str]:
        return [f"{prefix}size{j}" for j in range(1, len(self.segments[seg].groups))]

    def offset(self, i: int, index_prefixes: list[str], name: str | None = None) -> tuple[str, list[str]]:
        """(offset expression, stride parameter names) of operand ``i`` (called ``name`` in the kernel
        signature, default ``in{i}``); ``index_prefixes[s]`` names the index variables of segment s."""
        name = name or f"in{i}"
        op = self.operands[i]
        if op.scalar:
            return "0", []
        terms, params = [], []
        for s, seg in enumerate(self.segments):
            for j, b in enumerate(op.broadcast[s]):
                if b:
                    continue
                p = f"{name}_{seg.name}stride{j}"
                params.append(p)
                terms.append(f"{index_prefixes[s]}{j} * {p}")
        return (" + ".join(terms) if terms else "0"), params

    # -- launch-time values ---------------------------------------------------------------------------
    def sizes(self, actual: tuple[int, ...]) -> list[list[int]]:
        return [[int(np.prod([actual[d] for d in g])) for g in seg.groups] for seg in self.segments]

    def strides(self, i: int, actual_operand: tuple[int, ...], actual_space: tuple[int, ...]) -> list[int]:
        """Stride of operand ``i`` for each non-broadcast merged dim, in parameter order."""
        rank = len(actual_space)
        shape = (1,) * (rank - len(actual_operand)) + tuple(actual_operand)
        contiguous = [1] * rank
        for d in range(rank - 2, -1, -1):
            contiguous[d] = contiguous[d + 1] * shape[d + 1]
        out = []
        op = self.operands[i]
        if op.scalar:
            return out
        for s, seg in enumerate(self.segments):
            for j, g in enumerate(seg.groups):
                if not op.broadcast[s][j]:
                    out.append(contiguous[g[-1]])
        return out

    def group_strides(self, i: int, dim_strides: list[int]) -> list[int]:
        """Strides of operand ``i`` per non-broadcast merged dim, given its stride along each dim of
        the space (0 where it broadcasts); for operands that are not contiguous in the space."""
        op = self.operands[i]
        if op.scalar:
            return []
        out = []
        for s, seg in enumerate(self.segments):
            for j, g in enumerate(seg.groups):
                if not op.broadcast[s][j]:
                    out.append(dim_strides[g[-1]])
        return out
