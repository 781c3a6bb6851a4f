"""Triton expressions of float functions that keep IEEE special values and precision where the
textbook formulas lose them: NaN-keeping max and min, e^x - 1 and log(1 + t) near 0, C99's pow,
sinh. Each takes operand expressions (in the compute type: float32, or float64) and returns one
expression; ``lowering.py``'s rules use them. tests/codegen/test_special_values.py holds them to
the numpy reference on +-0, +-inf, NaN and extremes."""

from __future__ import annotations

import math


def fmax(a: str, b: str) -> str:
    """max(a, b) that is NaN where either is (numpy's and ONNX's; Triton's default drops NaNs)."""
    return f"tl.maximum({a}, {b}, propagate_nan=tl.PropagateNan.ALL)"


def fmin(a: str, b: str) -> str:
    """min(a, b) that is NaN where either is."""
    return f"tl.minimum({a}, {b}, propagate_nan=tl.PropagateNan.ALL)"


def expm1(x: str, f64: bool) -> str:
    """e^x - 1 without the cancellation near 0 (elu(-1e-8) came out 0); +0.0 for -0.0, as e^-0 - 1.
    float32 (the compute type of f16 and bf16 too): the series to x^5 below |x| = 0.1 (truncation
    under 2e-8 relative), e^x - 1 beyond (under 6 ulps): 48 more instructions per element than
    e^x - 1 on sm_90, where Kahan's form below costs about 330. float64: Kahan's (u - 1) x / log(u)
    with u = e^x, whose rounding errors cancel (x where u rounds to 1; -1 and inf at the ends)."""
    if not f64:
        series = f"{x} * (1.0 + {x} * (0.5 + {x} * (0.16666666666666666 + {x} * (0.041666666666666664 + {x} * 0.008333333333333333))))"
        return f"tl.where(tl.abs({x}) < 0.1, {series} + 0.0, tl.exp({x}) - 1.0)"
    u = f"tl.exp({x})"
    return (
        f"tl.where({u} == 1.0, {x} + 0.0, tl.where({u} == 0.0, -1.0, "
        f"tl.where({u} == float('inf'), {u}, ({u} - 1.0) * {x} / tl.log({u}))))"
    )


def log1p(t: str) -> str:
    """log(1 + t) for t >= 0 without losing t to the addition, in any float type (Goldberg:
    log(u) t / (u - 1) with u = 1 + t; t itself where u rounds to 1)."""
    u = f"(1.0 + {t})"
    return f"tl.where({u} == 1.0, {t}, tl.log({u}) * ({t} / ({u} - 1.0)))"


def power(x: str, y: str, e: float | None, f64: bool, exponent_int: bool) -> str:
    """x ** y as C99's pow (numpy's); ``e``: the exponent when it is one constant (short forms),
    ``exponent_int``: the exponent tensor holds integers."""
    if e is not None and not math.isfinite(e):  # C99: 1 where |x| = 1, else 0 or inf by |x| > 1
        if e != e:
            return f"tl.where({x} == 1.0, 1.0, float('nan'))"
        big, small = ("float('inf')", "0.0") if e > 0 else ("0.0", "float('inf')")
        m = f"tl.abs({x})"
        return f"tl.where({m} == 1.0, 1.0, tl.where({m} > 1.0, {big}, tl.where({m} < 1.0, {small}, {x})))"
    if e is not None:
        if e == 1.0:
            return x
        if e == 2.0:
            return f"({x} * {x})"
        if e == 3.0:
            return f"({x} * {x} * {x})"
        if e == 0.5:
            return f"tl.sqrt({x})"
        mag = f"tl.exp2({e!r} * tl.log2(tl.abs({x})))"
        if e.is_integer():  # negative bases are fine; odd powers keep the sign (of -0.0 too)
            odd = int(e) % 2
            sign = f"tl.where({x} < 0, -1.0, 1.0)" if odd else "1.0"
            zero = ("0.0" if e > 0 else "float('inf')") + (
                f" * tl.where(1.0 / {x} < 0, -1.0, 1.0)" if odd else ""
            )
            return f"tl.where({x} == 0, {zero}, {mag} * {sign})" if e != 0 else "1.0"
        # a fractional power: NaN for a negative finite base, as numpy (C99's pow) gives
        zero = "0.0" if e > 0 else "float('inf')"
        nan = f"({x} < 0) & ({x} > float('-inf'))"
        return f"tl.where({x} == 0, {zero}, tl.where({nan}, float('nan'), {mag}))"
    # x ** y for a tensor y: exp2(y log2 |x|), negative for a negative base and odd integral y, NaN
    # for a negative finite base and fractional y; C99's 1 for x = 1, y = 0 and (-1) ** +-inf
    if exponent_int:
        y = f"({y}).to({'tl.float64' if f64 else 'tl.float32'})"
    integral = f"(tl.floor({y}) == {y})"
    odd = f"({integral} & (tl.floor({y} * 0.5) * 2.0 != {y}))"
    neg = (
        f"tl.where({integral}, tl.where({odd}, -1.0, 1.0), tl.where({x} == float('-inf'), 1.0, float('nan')))"
    )
    one = f"({x} == 1.0) | ({y} == 0) | (({x} == -1.0) & (tl.abs({y}) == float('inf')))"
    # 0 or inf by y's sign (NaN for a NaN y), negative for -0.0 and odd y
    zero_base = (
        f"tl.where({y} > 0, 0.0, tl.where({y} < 0, float('inf'), {y}))"
        f" * tl.where((1.0 / {x} < 0) & {odd}, -1.0, 1.0)"
    )
    general = f"tl.exp2({y} * tl.log2(tl.abs({x}))) * tl.where({x} < 0, {neg}, 1.0)"
    return f"tl.where({one}, 1.0, tl.where({x} == 0, {zero_base}, {general}))"


def sinh(x: str, f64: bool) -> str:
    """sinh(x), where (e^x - e^-x) / 2 cancels near 0 (sinh(1e-8) came out 0). Near 0: in float32
    the odd series to x^7 below 0.5 (2.6 ulps), in float64 E (E + 2) / (2 (E + 1)) with E = expm1(x)
    below 1; beyond, e^(x - ln 2) - e^(-x - ln 2) (no overflow before sinh's own). Zeros keep
    their sign."""
    if f64:
        e = expm1(x, True)
        near, edge = f"({e}) * ({e} + 2.0) / (2.0 * ({e} + 1.0))", "1.0"
    else:
        z = f"({x} * {x})"
        near = f"({x} + {x} * {z} * (0.16666666666666666 + {z} * (0.008333333333333333 + {z} * 0.0001984126984126984)))"
        edge = "0.5"
    far = f"(tl.exp({x} - 0.6931471805599453) - tl.exp(-{x} - 0.6931471805599453))"
    return f"tl.where({x} == 0, {x}, tl.where(tl.abs({x}) < {edge}, {near}, {far}))"
