"""Einstein summation (ONNX Einsum)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import STR
from tritium.ir.dialects.nn.common import as_dtype, broadcast_shapes, ttype
from tritium.ir.opdef import Op, Pure, SameOperandsElementType, attr, result, var_operand
from tritium.ir.types import Dim, TensorType

ELLIPSIS = "."
"""Stands for the ellipsis in a parsed term (one character per term, expanded against the rank)."""


@dataclass(frozen=True)
class Equation:
    inputs: tuple[str, ...]
    """Each input's subscripts, with '...' written as one ``ELLIPSIS``."""
    output: str


def parse_equation(eq: str, n_inputs: int) -> Equation:
    """Parse ``eq`` (spaces ignored); the implicit output is the letters used once, in ASCII order,
    after the ellipsis dims. Raises ValueError with the reason."""
    text = eq.replace(" ", "")
    lhs, arrow, rhs = text.partition("->")
    terms = lhs.split(",")
    if len(terms) != n_inputs:
        raise ValueError(f"equation '{eq}' has {len(terms)} input terms for {n_inputs} inputs")
    parsed = tuple(_term(t, eq) for t in terms)
    if arrow:
        out = _term(rhs, eq)
        letters = set("".join(parsed))
        for c in out:
            if c != ELLIPSIS and c not in letters:
                raise ValueError(f"equation '{eq}': output subscript '{c}' is not in any input")
        if len(set(out)) != len(out):
            raise ValueError(f"equation '{eq}': output subscripts repeat")
        if ELLIPSIS in out and not any(ELLIPSIS in t for t in parsed):
            raise ValueError(f"equation '{eq}': output has an ellipsis that no input has")
    else:
        counts: dict[str, int] = {}
        for t in parsed:
            for c in t:
                if c != ELLIPSIS:
                    counts[c] = counts.get(c, 0) + 1
        once = "".join(sorted(c for c, n in counts.items() if n == 1))
        out = (ELLIPSIS if any(ELLIPSIS in t for t in parsed) else "") + once
    return Equation(parsed, out)


def _term(t: str, eq: str) -> str:
    if t.count("...") > 1:
        raise ValueError(f"equation '{eq}': a term has more than one ellipsis")
    t = t.replace("...", ELLIPSIS)
    for c in t:
        if not (c == ELLIPSIS or (c.isascii() and c.isalpha())):
            raise ValueError(f"equation '{eq}': bad subscript '{c}'")
    return t


def _letter_for(k: int) -> str:
    """Subscripts used internally for ellipsis dims (never letters of the equation: those are ASCII)."""
    return chr(0x3B1 + k)  # Greek letters


class Einsum(Op):
    """``output[out-term] = sum over the other subscripts of prod(input_i[term_i])``."""

    name = "nn.einsum"
    traits = (Pure, SameOperandsElementType)
    inputs = var_operand(D.NUMERIC)
    out = result()
    equation = attr(STR)

    def parsed(self) -> Equation:
        try:
            return parse_equation(self.equation, len(self.inputs))
        except ValueError as e:
            self.fail(str(e))
            raise

    def infer(self) -> TensorType:
        if not self.inputs:
            self.fail("needs at least one input")
        types = [ttype(self, v, f"input #{i}") for i, v in enumerate(self.inputs)]
        eq = self.parsed()
        if any(t.shape is None for t in types):
            n = None if ELLIPSIS in eq.output else len(eq.output)
            return TensorType(None if n is None else (None,) * n, types[0].dtype)
        sizes: dict[str, Dim] = {}
        ell: list[tuple[Dim, ...]] = []
        for i, (term, t) in enumerate(zip(eq.inputs, types)):
            shape = t.shape
            assert shape is not None
            named = len(term) - (1 if ELLIPSIS in term else 0)
            if len(shape) < named or (ELLIPSIS not in term and len(shape) != named):
                self.fail(f"input #{i} {t} does not fit the subscripts '{term}'")
            k = len(shape) - named
            dims = list(shape)
            if ELLIPSIS in term:
                at = term.index(ELLIPSIS)
                ell.append(tuple(dims[at : at + k]))
                dims = dims[:at] + dims[at + k :]
            for c, d in zip(term.replace(ELLIPSIS, ""), dims):
                prev = sizes.get(c)
                if isinstance(prev, int) and isinstance(d, int) and prev != d and 1 not in (prev, d):
                    self.fail(f"subscript '{c}' has sizes {prev} and {d}")
                if prev is None or prev == 1:
                    sizes[c] = d
        ell_shape = broadcast_shapes(self, *ell) if ell else ()
        out: list[Dim] = []
        for c in eq.output:
            out.extend(ell_shape if c == ELLIPSIS else [sizes[c]])  # type: ignore[arg-type]
        return TensorType(tuple(out), types[0].dtype)

    def reference(self, inputs: list[np.ndarray]) -> np.ndarray:
        eq = parse_equation(self.equation, len(inputs))
        n_ell = max((x.ndim - len(t) + 1 for t, x in zip(eq.inputs, inputs) if ELLIPSIS in t), default=0)
        ell = "".join(_letter_for(k) for k in range(n_ell))

        def expand(term: str, rank: int | None) -> str:
            if ELLIPSIS not in term:
                return term
            k = n_ell if rank is None else rank - len(term) + 1
            return term.replace(ELLIPSIS, ell[n_ell - k :])

        # Operands with fewer ellipsis dims are broadcast from the right: give them leading 1s.
        args = []
        terms = []
        for t, x in zip(eq.inputs, inputs):
            if ELLIPSIS in t:
                k = x.ndim - len(t) + 1
                at = t.index(ELLIPSIS)
                x = x.reshape(x.shape[:at] + (1,) * (n_ell - k) + x.shape[at:])
            terms.append(expand(t, None))
            args.append(x.astype(np.float64) if x.dtype.kind == "f" else x)
        spec = ",".join(terms) + "->" + expand(eq.output, None)
        return as_dtype(np.asarray(_einsum(spec, args)), self.results[0].type)


def _einsum(spec: str, args: list[np.ndarray]) -> np.ndarray:
    """numpy.einsum on any subscript characters (it accepts only letters): rename them to letters."""
    chars = sorted(set(spec) - set(",->"))
    pool = [c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"]
    if len(chars) > len(pool):
        raise ValueError(f"einsum with {len(chars)} subscripts is not supported")
    table = {c: pool[i] for i, c in enumerate(chars)}
    renamed = "".join(table.get(c, c) for c in spec)
    # Broadcast size-1 dims of a repeated subscript against the other operands' sizes.
    lhs = renamed.split("->")[0].split(",")
    sizes: dict[str, int] = {}
    for t, x in zip(lhs, args):
        for c, d in zip(t, x.shape):
            if d != 1:
                sizes[c] = d
    args = [np.broadcast_to(x, [sizes.get(c, d) for c, d in zip(t, x.shape)]) for t, x in zip(lhs, args)]
    return np.einsum(renamed, *args)
