"""Declarative op definitions: one class per op, everything about it side by side.

    class MatMul(Op):
        '''Matrix product with numpy broadcasting of the batch dimensions.'''
        name = "nn.matmul"
        traits = (Pure,)
        a = operand(FLOATS)
        b = operand(FLOATS)
        out = result()

        def infer(self) -> Type: ...            # result types from operand types and attributes
        def verify_op(self) -> None: ...        # extra rules; raise VerifyError via self.fail(...)
        def reference(self, a, b): ...          # numpy semantics
        def fold(self): ...                     # optional: simplify to an existing value or a constant

Operands are `operand()`, `opt_operand()` (may be absent) or `var_operand()` (zero or more); results
`result()` or `var_result()`; attributes `attr(KIND, default=...)`; regions `region()`. The class gets
accessors (``op.a``, ``op.out``, ``op.strides``), a keyword constructor (``MatMul.build(a, b)``),
generic verification, printing and parsing. Declaring a class registers it by its ``name``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from tritium.ir.attributes import AttrKind, Location
from tritium.ir.core import Operation, Region, Value
from tritium.ir.diagnostics import VerifyError
from tritium.ir.dtypes import DType
from tritium.ir.types import TensorType, Type, types_compatible

REQUIRED = object()
"""Marker: the attribute has no default and must be given."""


# ---------------------------------------------------------------------------------------------------
# Traits: marker classes, checked with ``op.has_trait(Pure)``.


class Trait:
    """Base of op traits. A trait may add a ``verify(op)`` static check."""

    @staticmethod
    def verify(op: Operation) -> None:
        return None


class Pure(Trait):
    """No side effects: the op can be erased when unused, deduplicated and folded."""


class Elementwise(Trait):
    """Each output element depends on the elements at the same index of the (broadcast) inputs."""


class Commutative(Trait):
    """The two operands can be swapped."""


class ConstantLike(Trait):
    """The op produces a constant; it has a ``value_array()`` method."""


class Terminator(Trait):
    """The op must be the last in its block."""


class IsolatedFromAbove(Trait):
    """Ops in the regions may not use values defined outside the op."""


class SymbolTable(Trait):
    """The op's region holds named symbols (functions) looked up by name."""


class SameOperandsAndResultType(Trait):
    """All operands and results have one type; inference takes the first operand's."""

    @staticmethod
    def verify(op: Operation) -> None:
        types = op.operand_types + op.result_types
        if types and any(t != types[0] for t in types):
            raise VerifyError(
                op,
                "requires all operands and results to have the same type, found "
                + ", ".join(map(str, types)),
            )


class SameOperandsElementType(Trait):
    @staticmethod
    def verify(op: Operation) -> None:
        dts = {t.dtype for t in op.operand_types if isinstance(t, TensorType)}
        if len(dts) > 1:
            raise VerifyError(
                op,
                "requires all operands to have the same element type, found "
                + ", ".join(sorted(d.name for d in dts)),
            )


# ---------------------------------------------------------------------------------------------------
# Field declarations


class OperandDef:
    """One operand group. ``kind`` is 'single', 'optional' or 'variadic'."""

    __slots__ = ("doc", "dtypes", "group", "kind", "name")

    def __init__(self, kind: str, dtypes: Sequence[DType] | frozenset | None, doc: str) -> None:
        self.kind = kind
        self.dtypes = frozenset(dtypes) if dtypes is not None else None
        self.doc = doc
        self.name = ""
        self.group = -1

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, op: Operation | None, owner: type) -> Any:
        if op is None:
            return self
        lo, hi = _segment_range(op, self.group, op.OPERANDS, op.num_operands, op._segments)
        if self.kind == "single":
            return op._operands[lo]
        if self.kind == "optional":
            return op._operands[lo] if hi > lo else None
        return op._operands[lo:hi]


class ResultDef:
    __slots__ = ("doc", "group", "kind", "name")

    def __init__(self, kind: str, doc: str) -> None:
        self.kind = kind
        self.doc = doc
        self.name = ""
        self.group = -1

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, op: Operation | None, owner: type) -> Any:
        if op is None:
            return self
        lo, hi = _segment_range(op, self.group, op.RESULTS, len(op.results), None)
        return op.results[lo] if self.kind == "single" else op.results[lo:hi]


class AttrDef:
    __slots__ = ("default", "doc", "kind", "name")

    def __init__(self, kind: AttrKind, default: Any, doc: str) -> None:
        self.kind = kind
        self.default = default
        self.doc = doc
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, op: Operation | None, owner: type) -> Any:
        if op is None:
            return self
        return op.attributes.get(self.name)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def optional(self) -> bool:
        """May be absent (default None)."""
        return self.default is None


class RegionDef:
    __slots__ = ("doc", "index", "name")

    def __init__(self, doc: str) -> None:
        self.doc = doc
        self.name = ""
        self.index = -1

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, op: Operation | None, owner: type) -> Any:
        if op is None:
            return self
        return op.regions[self.index]


def operand(dtypes: Sequence[DType] | frozenset | None = None, doc: str = "") -> Any:
    return OperandDef("single", dtypes, doc)


def opt_operand(dtypes: Sequence[DType] | frozenset | None = None, doc: str = "") -> Any:
    return OperandDef("optional", dtypes, doc)


def var_operand(dtypes: Sequence[DType] | frozenset | None = None, doc: str = "") -> Any:
    return OperandDef("variadic", dtypes, doc)


def result(doc: str = "") -> Any:
    return ResultDef("single", doc)


def var_result(doc: str = "") -> Any:
    return ResultDef("variadic", doc)


def attr(kind: AttrKind, default: Any = REQUIRED, doc: str = "") -> Any:
    """An attribute. ``default=REQUIRED`` (the default) makes it mandatory; ``default=None`` optional."""
    return AttrDef(kind, default, doc)


def region(doc: str = "") -> Any:
    return RegionDef(doc)


def _segment_range(
    op: Operation, group: int, defs: Sequence[Any], total: int, segments: Sequence[int] | None
) -> tuple[int, int]:
    """[lo, hi) of group ``group`` among ``total`` flattened values."""
    if segments is not None:
        lo = sum(segments[:group])
        return lo, lo + segments[group]
    sizes = _infer_segments(type(op), defs, total)
    lo = sum(sizes[:group])
    return lo, lo + sizes[group]


def _infer_segments(cls: type, defs: Sequence[Any], total: int) -> list[int]:
    """Group sizes when at most one group is not 'single' (otherwise explicit segments are needed)."""
    flexible = [i for i, d in enumerate(defs) if d.kind != "single"]
    fixed = len(defs) - len(flexible)
    if not flexible:
        return [1] * len(defs)
    if len(flexible) > 1:
        # Several optional/variadic groups: optional ones fill left to right, variadic takes the rest.
        sizes = [1 if d.kind == "single" else 0 for d in defs]
        extra = total - fixed
        variadic = [i for i in flexible if defs[i].kind == "variadic"]
        for i in flexible:
            if defs[i].kind == "optional" and extra > 0 and not variadic:
                sizes[i] = 1
                extra -= 1
        if variadic:
            sizes[variadic[0]] = max(extra, 0)
        return sizes
    sizes = [1] * len(defs)
    sizes[flexible[0]] = max(total - fixed, 0)
    return sizes


def needs_segments(cls: type[Operation], sizes: Sequence[int]) -> bool:
    """Whether the operand group sizes must be written down (they differ from the inferred ones)."""
    return list(sizes) != _infer_segments(cls, cls.OPERANDS, sum(sizes))


# ---------------------------------------------------------------------------------------------------
# The registry and the Op base class

OP_REGISTRY: dict[str, type[Op]] = {}
_RESERVED = frozenset(n for n in dir(Operation) if not n.startswith("__")) | {"name", "traits", "abstract"}


def lookup_op(name: str) -> type[Op] | None:
    return OP_REGISTRY.get(name)


class Op(Operation):
    """Base of declared ops. Subclasses set ``name`` and declare fields; see the module docstring."""

    traits: ClassVar[tuple[type[Trait], ...]] = ()
    """The op's traits. A subclass that sets ``traits`` replaces its base's; write ``(*Base.traits, X)``."""
    abstract: ClassVar[bool] = True
    """A class whose name is empty is a base for a family of ops and is not registered."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        operands: list[OperandDef] = []
        results: list[ResultDef] = []
        attrs: dict[str, AttrDef] = {}
        regions: list[RegionDef] = []

        def place(fields: list, val: Any) -> None:
            """A redeclared field keeps its base's position (a subclass may narrow an operand's types)."""
            for i, f in enumerate(fields):
                if f.name == val.name:
                    fields[i] = val
                    return
            fields.append(val)

        for klass in reversed(cls.__mro__):
            for val in vars(klass).values():
                if isinstance(val, OperandDef):
                    place(operands, val)
                elif isinstance(val, ResultDef):
                    place(results, val)
                elif isinstance(val, AttrDef):
                    attrs[val.name] = val
                elif isinstance(val, RegionDef):
                    place(regions, val)
        for key in (
            [o.name for o in operands] + [r.name for r in results] + list(attrs) + [r.name for r in regions]
        ):
            if key in _RESERVED:
                raise TypeError(f"{cls.__qualname__}: field '{key}' would hide Operation.{key}; rename it")
        for i, o in enumerate(operands):
            o.group = i
        for i, r in enumerate(results):
            r.group = i
        for i, r in enumerate(regions):
            r.index = i
        cls.OPERANDS, cls.RESULTS, cls.ATTRS, cls.REGIONS = (
            tuple(operands),
            tuple(results),
            attrs,
            tuple(regions),
        )
        cls.TRAITS = frozenset(cls.traits)  # a class's `traits` replaces its base's: (*Base.traits, Extra)
        name = vars(cls).get("name")
        cls.abstract = not name
        if name:
            if name in OP_REGISTRY and OP_REGISTRY[name].__qualname__ != cls.__qualname__:
                raise ValueError(
                    f"op '{name}' is declared twice: {OP_REGISTRY[name].__qualname__} and {cls.__qualname__}"
                )
            OP_REGISTRY[name] = cls

    # -- construction ------------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        *args: Any,
        loc: Location | str | None = None,
        result_types: Sequence[Type] | None = None,
        regions: Sequence[Region] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Build a detached op from operands (positionally or by name) and attributes (by name).

        A single operand group takes a Value, an optional one a Value or None, a variadic one a sequence.
        Attributes not given take their declared defaults. Result types are inferred unless given.
        """
        from tritium.ir.attributes import NameLoc

        if len(args) > len(cls.OPERANDS):
            raise TypeError(
                f"{cls.name}.build: {len(args)} positional operands, the op declares {len(cls.OPERANDS)}"
            )
        groups: list[Any] = list(args) + [
            kwargs.pop(d.name, None if d.kind != "variadic" else ()) for d in cls.OPERANDS[len(args) :]
        ]
        flat: list[Value] = []
        sizes: list[int] = []
        for d, g in zip(cls.OPERANDS, groups):
            if d.kind == "single":
                if g is None:
                    raise TypeError(f"{cls.name}.build: operand '{d.name}' is required")
                flat.append(g)
                sizes.append(1)
            elif d.kind == "optional":
                if g is not None:
                    flat.append(g)
                sizes.append(0 if g is None else 1)
            else:
                flat.extend(g)
                sizes.append(len(g))
        attributes: dict[str, Any] = {}
        for key, val in kwargs.items():
            if key not in cls.ATTRS:
                raise TypeError(f"{cls.name}.build: unknown operand or attribute '{key}'")
            if val is not None:
                attributes[key] = val
        if isinstance(loc, str):
            loc = NameLoc(loc)
        if regions is None:
            regions = [Region() for _ in cls.REGIONS]
        return cls.create(
            flat, result_types, attributes, regions, loc, sizes if needs_segments(cls, sizes) else None
        )

    @classmethod
    def create(
        cls,
        operands: Sequence[Value],
        result_types: Sequence[Type] | None,
        attributes: dict[str, Any],
        regions: Sequence[Region] = (),
        loc: Location | None = None,
        segments: Sequence[int] | None = None,
    ) -> Any:
        """Build from flat operands; fills and checks attributes (raising ValueError with the op name)."""
        attrs = cls.normalize_attributes(attributes)
        return cls(operands, result_types, attrs, regions, loc, segments)

    @classmethod
    def normalize_attributes(cls, attributes: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, val in attributes.items():
            d = cls.ATTRS.get(key)
            if d is None:
                out[key] = val  # discardable attribute (not declared): kept as is
                continue
            try:
                out[key] = d.kind.check(val)
            except ValueError as e:
                raise ValueError(f"'{cls.name}' attribute '{key}': {e}") from None
        for key, d in cls.ATTRS.items():
            if key not in out and d.default is not REQUIRED and d.default is not None:
                out[key] = d.default
        return out

    # -- what ops override ----------------------------------------------------------------------------
    def infer(self) -> Type | Sequence[Type]:
        """Result types from operand types and attributes. The default covers SameOperandsAndResultType."""
        if SameOperandsAndResultType in self.TRAITS and self._operands:
            return self._operands[0].type
        raise NotImplementedError

    def verify_op(self) -> None:
        """Op-specific verification; call ``self.fail(msg)`` to report."""

    def reference(self, *args: Any) -> Any:
        """Numpy semantics: takes one argument per operand group, returns an array or a tuple of them."""
        raise NotImplementedError(f"'{self.name}' has no reference semantics")

    def fold(self) -> Sequence[Value | np.ndarray] | None:
        """Simplify: return one existing Value or constant array per result, or None to keep the op."""
        return None

    # -- helpers for the above ----------------------------------------------------------------------
    def infer_result_types(self) -> list[Type]:
        try:
            t = self.infer()
        except NotImplementedError:
            raise ValueError(f"'{self.name}' cannot infer its result types: pass result_types") from None
        return [t] if isinstance(t, Type) else list(t)

    def fail(self, message: str) -> None:
        raise VerifyError(self, message)

    def operand_groups(self, values: Sequence[Any]) -> list[Any]:
        """Split a flat per-operand list (values, arrays, types) into the declared groups."""
        out: list[Any] = []
        defs = self.OPERANDS
        if not defs:
            return list(values)
        for d in defs:
            lo, hi = _segment_range(self, d.group, defs, len(values), self._segments)
            if d.kind == "single":
                out.append(values[lo])
            elif d.kind == "optional":
                out.append(values[lo] if hi > lo else None)
            else:
                out.append(list(values[lo:hi]))
        return out

    def segment_sizes(self) -> list[int]:
        defs = self.OPERANDS
        return [
            (lambda r: r[1] - r[0])(_segment_range(self, d.group, defs, self.num_operands, self._segments))
            for d in defs
        ]

    def const(self, v: Value | None) -> np.ndarray | None:
        """The constant value of operand ``v`` when it is produced by a constant op (with data), else None."""
        return constant_value(v)


def constant_value(v: Value | None) -> np.ndarray | None:
    if v is None:
        return None
    op = v.defining_op
    if op is None or ConstantLike not in op.TRAITS:
        return None
    return op.value_array()  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------------
# Generic verification of one op against its declaration (the verifier walks the IR and calls this).


def verify_declared(op: Operation) -> None:
    cls = type(op)
    if not isinstance(op, Op):
        return
    defs = cls.OPERANDS
    n = op.num_operands
    if op._segments is not None:
        if len(op._segments) != len(defs) or sum(op._segments) != n:
            op.fail(
                f"operand segment sizes {list(op._segments)} do not fit {n} operands in {len(defs)} groups"
            )
        for d, s in zip(defs, op._segments):
            if (d.kind == "single" and s != 1) or (d.kind == "optional" and s > 1):
                op.fail(f"operand group '{d.name}' ({d.kind}) has {s} values")
    else:
        singles = sum(d.kind == "single" for d in defs)
        optionals = sum(d.kind == "optional" for d in defs)
        variadic = any(d.kind == "variadic" for d in defs)
        if n < singles or (not variadic and n > singles + optionals):
            expected = (
                str(singles)
                if singles == len(defs)
                else f"{singles} to {'many' if variadic else singles + optionals}"
            )
            op.fail(f"expected {expected} operands, found {n}")
    for d, vals in zip(defs, op.operand_groups(op.operands)):
        group = vals if isinstance(vals, list) else ([] if vals is None else [vals])
        if d.dtypes is not None:
            for v in group:
                if isinstance(v.type, TensorType) and v.type.dtype not in d.dtypes:
                    allowed = ", ".join(sorted(x.name for x in d.dtypes))
                    op.fail(f"operand '{d.name}' has element type {v.type.dtype}, expected one of {allowed}")
    rdefs = cls.RESULTS
    if rdefs and not any(d.kind == "variadic" for d in rdefs) and len(op.results) != len(rdefs):
        op.fail(f"expected {len(rdefs)} results, found {len(op.results)}")
    if len(op.regions) != len(cls.REGIONS):
        op.fail(f"expected {len(cls.REGIONS)} regions, found {len(op.regions)}")
    for key, d in cls.ATTRS.items():
        if key not in op.attributes:
            if d.required:
                op.fail(f"requires attribute '{key}' ({d.kind})")
            continue
        try:
            d.kind.check(op.attributes[key])
        except ValueError as e:
            op.fail(f"attribute '{key}': {e}")
    for trait in cls.TRAITS:
        trait.verify(op)
    op.verify_op()
    try:
        t = op.infer()
    except NotImplementedError:
        return  # the op declares no inference: its written result types stand
    except VerifyError:
        raise
    except (ValueError, IndexError, TypeError, KeyError) as e:
        op.fail(f"type inference failed: {e}")
        return
    inferred = [t] if isinstance(t, Type) else list(t)
    if len(inferred) != len(op.results):
        op.fail(f"has {len(op.results)} results but its operands give {len(inferred)}")
    for i, (r, t) in enumerate(zip(op.results, inferred)):
        if not types_compatible(r.type, t):
            op.fail(f"result #{i} has type {r.type}, but its operands and attributes give {t}")
