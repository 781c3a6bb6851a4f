"""Elementwise nn ops as Triton expressions: the codegen rule of each op, in one table.

A rule takes the op and the Triton expressions of its operands (already in the compute type: float32
for every float type, the integer type itself for integers) and returns the expression of its result.
Templates use the same rules for their epilogues, so any op listed here fuses into any kernel.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from tritium.codegen.conversions import (
    integer_bound,
    integral_below,
    small_int_to_f32,
    small_integral_f32_to_int,
)
from tritium.codegen.device_math import GELU_HELPERS, HELPERS, gelu_tanh_denominator
from tritium.codegen.float_math import expm1, fmax, fmin, log1p, power, sinh
from tritium.ir.core import Operation
from tritium.ir.dtypes import DType
from tritium.ir.opdef import constant_value
from tritium.ir.types import TensorType
from tritium.passes.integral import value_range

Rule = Callable[[Operation, list[str]], str]
RULES: dict[str, Rule] = {}

TL_TYPES = {
    "f32": "tl.float32",
    "f16": "tl.float16",
    "bf16": "tl.bfloat16",
    "f64": "tl.float64",
    "i64": "tl.int64",
    "i32": "tl.int32",
    "i16": "tl.int16",
    "i8": "tl.int8",
    "ui8": "tl.uint8",
    "ui16": "tl.uint16",
    "ui32": "tl.uint32",
    "ui64": "tl.uint64",
    "i1": "tl.int1",
    "f8E4M3FN": "tl.float8e4nv",
    "f8E5M2": "tl.float8e5",
}


def compute_type(dt: DType) -> str:
    """The Triton type values of ``dt`` are computed in (floats widen to float32, f64 stays)."""
    if dt.is_float:
        return "tl.float64" if dt.name == "f64" else "tl.float32"
    if dt.name not in TL_TYPES:
        raise NotImplementedError(f"element type {dt} has no Triton type")
    return TL_TYPES[dt.name]


def is_float8(dt: DType) -> bool:
    """The float 8 types the GPU's tensor cores take (e4m3fn, e5m2)."""
    return dt.name in ("f8E4M3FN", "f8E5M2")


def dot_precision(dt: DType) -> str:
    """The extra arguments of ``tl.dot`` over operands of ``dt``: int32 sums for 8-bit integers
    (Triton < 3.7 types the product float32 unless told); IEEE float32 products for f32 (not TF32);
    for float 8, each BLOCK_K step summed apart and added to the float32 accumulator: the FP8 tensor
    cores add in fewer bits than float32, and chaining them over all of K (cuBLASLt's "fast
    accumulation") gives 10x the error (1.3e-3 relative at K = 4096 on an H200, against 1.3e-4)."""
    if dt.is_int:
        return ", out_dtype=tl.int32"
    if is_float8(dt):
        return ", max_num_imprecise_acc=BLOCK_K"
    return ', input_precision="ieee"' if dt.name in ("f32", "f64") else ""


def storage_type(dt: DType) -> str:
    if dt.name not in TL_TYPES:
        raise NotImplementedError(f"element type {dt} has no Triton type")
    return TL_TYPES[dt.name]


def rule(*names: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for n in names:
            RULES[n] = fn
        return fn

    return register


def _dtype(op: Operation, i: int = 0) -> DType:
    t = op.results[i].type
    assert isinstance(t, TensorType)
    return t.dtype


def _is_float(op: Operation) -> bool:
    return _dtype(op).is_float


def _f64(op: Operation) -> bool:
    """Whether the op computes in float64 (every other float type computes in float32)."""
    return _dtype(op).name == "f64"


def literal(value: Any, dt: DType) -> str:
    """A Python literal Triton will accept for a scalar of ``dt``."""
    if dt.kind == "bool":
        return "1" if bool(value) else "0"
    if dt.is_float:
        x = float(value)
        if x != x:
            return "float('nan')"
        if x in (float("inf"), float("-inf")):
            return f"float('{x}')"
        return repr(x)
    return str(int(value))


_BINARY = {"nn.add": "({0} + {1})", "nn.sub": "({0} - {1})", "nn.mul": "({0} * {1})"}


@rule(*_BINARY)
def _arith(op: Operation, a: list[str]) -> str:
    return _BINARY[op.name].format(*a)


def _correctly_rounded_div(op: Operation) -> bool:
    """A pinned f32 division, emitted as ``tl.math.div_rn`` (no FMA can absorb it)."""
    return op.name == "nn.div" and _dtype(op).name == "f32" and op.attributes.get("precision") == "f32"


@rule("nn.div")
def _div(op: Operation, a: list[str]) -> str:
    if _correctly_rounded_div(op):
        # a pinned division (a quantize's x / scale, whose rounding must see the exact quotient):
        # correctly rounded, where ``/`` is div.full on NVIDIA (up to 2 ulp off)
        by = _reciprocal_of_constant(op)
        if by is not None:
            return f"(({a[0]}).to(tl.float64) * {by}).to(tl.float32)"
        return f"tl.math.div_rn({a[0]}, {a[1]})"
    if _is_float(op):
        return f"({a[0]} / {a[1]})"
    # ONNX integer division truncates toward zero; Triton's // does too for integers (C semantics).
    return f"({a[0]} // {a[1]})"


def _reciprocal_of_constant(op: Operation) -> str | None:
    """For x / s with s a finite nonzero f32 constant (a quantize's scale) and x not constant: the
    literal of RN64(1 / s), with which RN32(RN64(x * RN64(1 / s))) is the correctly rounded f32
    quotient. The product's relative error is below 2^-52, and for f32 x and s (24-bit
    significands) x / s lies at least 2^-49 (relatively) from the nearest midpoint between f32
    values (x = m * s for a 25-bit midpoint m needs 49 significant bits unless s is a power of
    two, and then the quotient is exact), so both round alike. ``div_rn`` instead compiles to a
    Newton sequence with a slow path taken per element: on an H200, INT8 ResNet-50's requantizing
    epilogues spilled (255 registers, 648 bytes of stack) around 258 of its branches."""

    if constant_value(op.operand(0)) is not None:
        return None
    c = constant_value(op.operand(1))
    if c is None or c.size != 1:
        return None
    s = float(np.float32(np.asarray(c).reshape(-1)[0]))
    return repr(1.0 / s) if math.isfinite(s) and s != 0.0 else None


@rule("nn.max")
def _max(op: Operation, a: list[str]) -> str:
    return fmax(a[0], a[1])


@rule("nn.min")
def _min(op: Operation, a: list[str]) -> str:
    return fmin(a[0], a[1])


@rule("nn.pow")
def _pow(op: Operation, a: list[str]) -> str:
    if not _is_float(op):
        raise NotImplementedError("integer pow has no generated kernel")
    c = constant_value(op.operand(1))
    e = float(c.reshape(-1)[0]) if c is not None and c.size == 1 else None
    exponent_int = not op.operand(1).type.dtype.is_float  # type: ignore[attr-defined]
    return power(a[0], a[1], e, _f64(op), exponent_int)


@rule("nn.neg")
def _neg(op: Operation, a: list[str]) -> str:
    return f"(-{a[0]})"


@rule("nn.abs")
def _abs(op: Operation, a: list[str]) -> str:
    return f"tl.abs({a[0]})"


@rule("nn.exp")
def _exp(op: Operation, a: list[str]) -> str:
    return f"tl.exp({a[0]})"


@rule("nn.log")
def _log(op: Operation, a: list[str]) -> str:
    return f"tl.log({a[0]})"


@rule("nn.sqrt")
def _sqrt(op: Operation, a: list[str]) -> str:
    return f"tl.sqrt({a[0]})"


@rule("nn.erf")
def _erf(op: Operation, a: list[str]) -> str:
    return f"tl.erf({a[0]})"


@rule("nn.relu")
def _relu(op: Operation, a: list[str]) -> str:
    return fmax(a[0], "0")


@rule("nn.sigmoid")
def _sigmoid(op: Operation, a: list[str]) -> str:
    return f"tl.sigmoid({a[0]})"


@rule("nn.tanh")
def _tanh(op: Operation, a: list[str]) -> str:
    # tanh(x) = sign(x) (1 - e) / (1 + e), e = exp(-2|x|); a short series near 0 avoids cancellation.
    x = a[0]
    return (
        f"tl.where(tl.abs({x}) < 0.0625, {x} * (1.0 - {x} * {x} * (0.3333333333 - 0.1333333333 * {x} * {x})),"
        f" tl.where({x} < 0, -1.0, 1.0) * (1.0 - tl.exp(-2.0 * tl.abs({x}))) / (1.0 + tl.exp(-2.0 * tl.abs({x}))))"
    )


def _attr(op: Operation, name: str) -> str:
    return repr(float(op.attributes[name]))


@rule("nn.cast")
def _cast(op: Operation, a: list[str]) -> str:
    src = op.operand(0).type.dtype  # type: ignore[attr-defined]
    to: DType = op.attributes["to"]
    if to.kind == "bool":
        return f"({a[0]} != 0)"
    if to.is_float:
        if to.name == "f32" and src.is_int and integer_bound(op.operand(0)) < 2**22:
            return small_int_to_f32(a[0])
        if to.name in ("f32", "f64"):
            return f"{a[0]}.to({compute_type(to)})"
        if to.name == "bf16":
            # round to nearest even on the float32 bits: the same result on every GPU and the interpreter
            bits = f"{a[0]}.to(tl.float32).to(tl.uint32, bitcast=True)"
            return f"(({bits} + 0x7FFF + (({bits} >> 16) & 1)) & 0xFFFF0000).to(tl.float32, bitcast=True)"
        if to.name not in TL_TYPES:
            raise NotImplementedError(f"cast to {to} has no generated kernel")
        # round to the narrow type, keep computing in float32
        narrow = f"{a[0]}.to({TL_TYPES[to.name]}).to(tl.float32)"
        if to.name in ("f8E4M3FN", "f8E5M2") and not op.attributes.get("saturate", True):
            # the GPU's float 8 conversion saturates (cvt.rn.satfinite, also when storing); without
            # saturate, what rounds past 448 is NaN in e4m3fn (no infinity). e5m2's infinities would
            # need the bits written by hand: that cast runs on the host.
            if to.name == "f8E5M2":
                raise NotImplementedError("a non-saturating cast to f8E5M2 has no generated kernel")
            return f"tl.where(tl.abs({a[0]}) > 464.0, float('nan'), {narrow})"  # (464: a tie, to 448)
        return narrow
    if src.is_float and to.is_int:
        if src.name == "f32" and to.bits <= 32 and integral_below(op.operand(0), 2**22):
            return f"({small_integral_f32_to_int(a[0])}).to({compute_type(to)})"
        return f"{a[0]}.to({compute_type(to)})"  # truncation toward zero, as numpy's astype
    return f"{a[0]}.to({compute_type(to)})"


@rule("nn.leaky_relu")
def _leaky(op: Operation, a: list[str]) -> str:
    return f"tl.where({a[0]} >= 0, {a[0]}, {a[0]} * {_attr(op, 'alpha')})"


@rule("nn.elu")
def _elu(op: Operation, a: list[str]) -> str:
    return f"tl.where({a[0]} > 0, {a[0]}, {_attr(op, 'alpha')} * {expm1(a[0], _f64(op))})"


@rule("nn.celu")
def _celu(op: Operation, a: list[str]) -> str:
    al = _attr(op, "alpha")
    negative = f"{al} * {expm1(f'({a[0]} / {al})', _f64(op))}"
    return f"({fmax(a[0], '0.0')} + {fmin('0.0', negative)})"


@rule("nn.selu")
def _selu(op: Operation, a: list[str]) -> str:
    return (
        f"{_attr(op, 'gamma')} * tl.where({a[0]} > 0, {a[0]}, {_attr(op, 'alpha')} * {expm1(a[0], _f64(op))})"
    )


@rule("nn.thresholded_relu")
def _threlu(op: Operation, a: list[str]) -> str:
    return f"tl.where({a[0]} > {_attr(op, 'alpha')}, {a[0]}, 0.0)"


@rule("nn.hard_sigmoid")
def _hsig(op: Operation, a: list[str]) -> str:
    return fmin(fmax(f"{_attr(op, 'alpha')} * {a[0]} + {_attr(op, 'beta')}", "0.0"), "1.0")


@rule("nn.hard_swish")
def _hswish(op: Operation, a: list[str]) -> str:
    return f"({a[0]} * tl.minimum(tl.maximum({a[0]} / 6.0 + 0.5, 0.0), 1.0))"


@rule("nn.softplus")
def _softplus(op: Operation, a: list[str]) -> str:
    # log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|) (1 + t would round a small t away:
    # softplus(-12) was 0.4% off)
    return f"({fmax(a[0], '0.0')} + {log1p(f'tl.exp(-tl.abs({a[0]}))')})"


@rule("nn.softsign")
def _softsign(op: Operation, a: list[str]) -> str:
    return f"({a[0]} / (1.0 + tl.abs({a[0]})))"


@rule("nn.gelu")
def _gelu(op: Operation, a: list[str]) -> str:
    x = a[0]
    dtype = op.results[0].type.dtype.name  # type: ignore[attr-defined]
    tanh = op.attributes.get("approximate", "none") == "tanh"
    if dtype == "f64":  # (the fits are float32's)
        if tanh:
            return f"({x} / {gelu_tanh_denominator(x)})"
        return f"(0.5 * {x} * (1.0 + tl.erf({x} * 0.7071067811865476)))"
    # the tanh form as x sigmoid(2u) (device_math.py; the tanh form was ~3x the instructions), the erf
    # form by a fit as precise as the result type needs (float16's: 4 multiply-adds fewer than float32's)
    value = f"gelu_tanh({x})" if tanh else f"{GELU_HELPERS.get(dtype, 'gelu_erf')}({x})"
    if dtype == "f16" and any(use.op.name != "kernel.yield" for use in op.results[0].uses):
        # far below 0 both leave float32 values (under 6e-9) that only the store's rounding makes -0.0
        # (float16's erf fit runs unclamped; the tanh form does not cancel): an op reading it in the
        # kernel gets it rounded first, as the reference's float16 tensor is
        return f"{value}.to(tl.float16).to(tl.float32)"
    return value


@rule("nn.mish")
def _mish(op: Operation, a: list[str]) -> str:
    return f"({a[0]} * {_tanh(op, [_softplus(op, a)])})"


@rule("nn.swish")
def _swish(op: Operation, a: list[str]) -> str:
    return f"({a[0]} * tl.sigmoid({_attr(op, 'alpha')} * {a[0]}))"


@rule("nn.shrink")
def _shrink(op: Operation, a: list[str]) -> str:
    lam, b = _attr(op, "lambd"), _attr(op, "bias")
    return f"tl.where({a[0]} < -{lam}, {a[0]} + {b}, tl.where({a[0]} > {lam}, {a[0]} - {b}, 0.0))"


@rule("nn.prelu")
def _prelu(op: Operation, a: list[str]) -> str:
    return f"tl.where({a[0]} < 0, {a[0]} * {a[1]}, {a[0]})"


@rule("nn.clip")
def _clip(op: Operation, a: list[str]) -> str:
    groups = op.operand_groups(a)  # type: ignore[attr-defined]
    x, lo, hi = groups
    out = x
    if lo is not None:
        out = fmax(out, lo)
    if hi is not None:
        out = fmin(out, hi)
    return out


_CMP = {
    "nn.equal": "==",
    "nn.less": "<",
    "nn.less_or_equal": "<=",
    "nn.greater": ">",
    "nn.greater_or_equal": ">=",
}


@rule(*_CMP)
def _cmp(op: Operation, a: list[str]) -> str:
    return f"({a[0]} {_CMP[op.name]} {a[1]})"


_LOGIC = {"nn.and": "&", "nn.or": "|", "nn.xor": "^"}


@rule(*_LOGIC)
def _logic(op: Operation, a: list[str]) -> str:
    return f"(({a[0]} != 0) {_LOGIC[op.name]} ({a[1]} != 0))"


_BITWISE = {"nn.bitwise_and": "&", "nn.bitwise_or": "|", "nn.bitwise_xor": "^"}


@rule(*_BITWISE)
def _bitwise(op: Operation, a: list[str]) -> str:
    return f"({a[0]} {_BITWISE[op.name]} {a[1]})"


@rule("nn.bitwise_not")
def _bitwise_not(op: Operation, a: list[str]) -> str:
    return f"(~{a[0]})"


@rule("nn.bit_shift")
def _bit_shift(op: Operation, a: list[str]) -> str:
    # A shift by a negative amount or by the bit width or more is undefined in LLVM: such lanes give
    # what the sign fill alone gives (-1 for a right shift of a negative value, else 0), as ONNX's
    # reference does.
    x, n = a
    dt = _dtype(op)
    ok = f"(({n} >= 0) & ({n} < {dt.bits}))"
    amount = f"tl.where({ok}, {n}, 0)"
    if op.attributes["direction"] == "LEFT":
        return f"tl.where({ok}, {x} << {amount}, 0)"
    fill = f"tl.where({x} < 0, -1, 0)" if dt.is_signed else "0"
    return f"tl.where({ok}, {x} >> {amount}, {fill})"


@rule("nn.mod")
def _mod(op: Operation, a: list[str]) -> str:
    # Triton's % is C's (the sign of the dividend: ONNX's fmod = true); fmod = false takes the sign
    # of the divisor. An integer divisor of 0 gives 0 (numpy's answer; LLVM's is undefined).
    x, y = a
    float_ = _is_float(op)
    r = f"({x} % {y})" if float_ else f"({x} % tl.where({y} == 0, 1, {y}))"
    if not op.attributes.get("fmod", False) and (float_ or _dtype(op).is_signed):
        r = f"tl.where(({r} != 0) & (({r} < 0) != ({y} < 0)), {r} + {y}, {r})"
    return r if float_ else f"tl.where({y} == 0, 0, {r})"


@rule("nn.not")
def _not(op: Operation, a: list[str]) -> str:
    return f"({a[0]} == 0)"


@rule("nn.is_nan")
def _isnan(op: Operation, a: list[str]) -> str:
    return f"({a[0]} != {a[0]})"


@rule("nn.is_inf")
def _isinf(op: Operation, a: list[str]) -> str:
    pos, neg = op.attributes.get("detect_positive", True), op.attributes.get("detect_negative", True)
    terms = ([f"({a[0]} == float('inf'))"] if pos else []) + ([f"({a[0]} == float('-inf'))"] if neg else [])
    return "(" + " | ".join(terms) + ")" if terms else f"({a[0]} != {a[0]}) & ({a[0]} == {a[0]})"


@rule("nn.where")
def _where(op: Operation, a: list[str]) -> str:
    return f"tl.where({a[0]} != 0, {a[1]}, {a[2]})"


_MATH = {
    "nn.sin": "tl.sin({0})",
    "nn.cos": "tl.cos({0})",
    "nn.tan": "(tl.sin({0}) / tl.cos({0}))",
    "nn.floor": "tl.floor({0})",
    "nn.ceil": "tl.ceil({0})",
    "nn.reciprocal": "(1.0 / {0})",
    # e^(x - ln 2) = e^x / 2 without overflowing where e^x alone would (88.7 < x < 89.4 in float32)
    "nn.cosh": "(tl.exp({0} - 0.6931471805599453) + tl.exp(-{0} - 0.6931471805599453))",
}


@rule(*_MATH)
def _math(op: Operation, a: list[str]) -> str:
    return _MATH[op.name].format(a[0])


@rule("nn.sinh")
def _sinh(op: Operation, a: list[str]) -> str:
    return sinh(a[0], _f64(op))


@rule("nn.sign")
def _sign(op: Operation, a: list[str]) -> str:
    zero = "0.0" if _is_float(op) else "0"
    one = "1.0" if _is_float(op) else "1"
    rest = f"({a[0]} + 0.0)" if _is_float(op) else zero  # +0.0 for +-0, NaN for NaN (numpy's sign)
    return f"tl.where({a[0]} > 0, {one}, tl.where({a[0]} < 0, -{one}, {rest}))"


@rule("nn.round")
def _round(op: Operation, a: list[str]) -> str:
    """Half to even. An operand known to lie within 2^22 (a per-tensor quantize's x / scale,
    clipped to the integer type's range first) rounds in one addition and its subtraction back,
    the zero's sign then copied from the operand by bit operations.
    When the operand is a correctly rounded division or a
    loaded value, by the hardware's own rounding: below 2^23 (2^52 in f64) x + copysign(2^23, x)
    lands where the spacing is 1, so the addition rounds x to an integer and subtracting back is
    exact (five operations). Otherwise the compiler may fuse a product into that addition (an FMA
    sees the unrounded product, and ties break by its lost bits), so: round half up, then step
    back where that landed on an odd number from a tie. Larger values are integers already; a zero
    result keeps the input's sign."""
    x = a[0]
    f64 = op.results[0].type.dtype.name == "f64"  # type: ignore[attr-defined]  # (others compute in f32)
    lo, hi = value_range(op.operand(0))
    if not f64 and lo >= -(2.0**22) and hi <= 2.0**22 and constant_value(op.operand(0)) is None:
        # 1.5 * 2^23 + x lands where the spacing is 1 whatever x's sign, so one addition rounds it
        # (no product can fuse into it: what value_range bounds is a clip, max, min, sum or
        # difference); the zero's sign is x's
        r = f"(({x} + 12582912.0) - 12582912.0)"
        bits = (
            f"({r}.to(tl.int32, bitcast=True) & 0x7FFFFFFF) | ({x}.to(tl.int32, bitcast=True) & -2147483648)"
        )
        return f"({bits}).to(tl.float32, bitcast=True)"
    big = "4503599627370496.0" if f64 else "8388608.0"
    src = op.operand(0).defining_op
    if src is None or _correctly_rounded_div(src):
        r = f"(({x} + tl.where({x} < 0, -{big}, {big})) - tl.where({x} < 0, -{big}, {big}))"
    else:
        f = f"tl.floor({x} + 0.5)"
        odd = f"({f} - 2.0 * tl.floor({f} * 0.5) != 0)"
        r = f"tl.where(({x} + 0.5 == {f}) & {odd}, {f} - 1.0, {f})"
    return f"tl.where(tl.abs({x}) >= {big}, {x}, tl.where({r} == 0, {x} * 0.0, {r}))"


def lower(op: Operation, args: list[str]) -> str:
    """The Triton expression for ``op`` (NotImplementedError when it has no rule)."""
    fn = RULES.get(op.name)
    if fn is None:
        raise NotImplementedError(f"{op.describe()} has no Triton lowering rule")
    return fn(op, args)


@rule("nn.asin", "nn.acos", "nn.atan", "nn.asinh", "nn.acosh", "nn.atanh")
def _inverse(op: Operation, a: list[str]) -> str:
    if op.results[0].type.dtype.name == "f64":  # type: ignore[attr-defined]
        raise NotImplementedError(f"{op.name} in f64 has no generated kernel (its polynomials are float32's)")
    return f"{op.name.removeprefix('nn.')}_f32({a[0]}.to(tl.float32))"


PDL_PROLOGUE = [
    "    if PDL:  # programmatic dependent launch: wait for the previous kernel's writes",
    "        tl.extra.cuda.gdc_wait()",
    "    if PDL == 2:  # a grid of one wave: the next kernel may launch now (its programs wait as above)",
    "        tl.extra.cuda.gdc_launch_dependents()",
]


def finish_source(source: str) -> str:
    """``source`` finished: each kernel (each jitted function that is not a helper) takes a ``PDL``
    flag (default 0: off; ``triton_env.pdl_kwargs``) and starts with the programmatic-dependent-launch
    prologue; after it, each helper its code calls."""
    import re

    lines = source.split("\n")
    out = []
    for i, line in enumerate(lines):
        head = re.match(r"def (\w+)\((.*)\):$", line)
        if head and i and lines[i - 1] == "@triton.jit":
            params = ", ".join(p for p in (head.group(2), "PDL: tl.constexpr = 0") if p)
            out += [f"def {head.group(1)}({params}):", *PDL_PROLOGUE]
        else:
            out.append(line)
    source = "\n".join(out)
    code = source[source.find("\nimport triton\n") :]  # not the header comment: the IR is user data
    used = [h for name, h in HELPERS.items() if re.search(rf"\b{name}\b", code)]  # called or passed
    return source + "".join("\n\n" + h for h in used)
