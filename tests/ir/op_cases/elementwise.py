"""Cases for elementwise math, activations, comparisons and logic, bitwise ops and casts (the first
elementwise ops' float cases are in core.py; integer cases for them are here).

An i1 result is cast to i32 inside the case (the registry test compares numbers), so those cases
also cover nn.cast.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from tests.ir.op_cases.base import N, OpCase, T, ty, unary


def fn_ir(args: list[tuple[str, str]], body: list[str], ret: tuple[str, str]) -> str:
    """``func.func @main`` with the given arguments (name, type), body lines and returned value."""
    params = ", ".join(f"%{n}: {t}" for n, t in args)
    lines = "".join(f"  {line}\n" for line in body)
    return f"func.func @main({params}) -> {ret[1]} {{\n{lines}  func.return %{ret[0]} : {ret[1]}\n}}"


def op_line(res: str, name: str, operands: list[tuple[str, str]], out: str, attrs: str = "") -> str:
    ops = ", ".join(f"%{n}" for n, _ in operands)
    ins = ", ".join(t for _, t in operands)
    a = f" {{{attrs}}}" if attrs else ""
    return f"%{res} = {name} {ops}{a} : ({ins}) -> {out}"


def typed_unary(name: str, fn, shape, dt: str, gen, attrs: str = "", rtol: float = 1e-5) -> OpCase:
    t = ty(shape, dt)
    return OpCase(
        fn_ir([("x", t)], [op_line("y", name, [("x", t)], t, attrs)], ("y", t)),
        lambda g: [gen(g, shape)],
        lambda x: [fn(x)],
        rtol=rtol,
    )


def typed_binary(name: str, fn, a, b, dt: str, gen_a, gen_b, attrs: str = "") -> OpCase:
    out = tuple(np.broadcast_shapes(a, b))
    ta, tb, to = ty(a, dt), ty(b, dt), ty(out, dt)
    return OpCase(
        fn_ir([("a", ta), ("b", tb)], [op_line("y", name, [("a", ta), ("b", tb)], to, attrs)], ("y", to)),
        lambda g: [gen_a(g, a), gen_b(g, b)],
        lambda x, y: [fn(x, y)],
    )


def to_i32(name: str, fn, shapes: list[tuple[int, ...]], dts: list[str], gens, attrs: str = "") -> OpCase:
    """``name`` with an i1 result, cast to i32; ``fn`` is the oracle (on numpy inputs, giving bools)."""
    out = tuple(np.broadcast_shapes(*shapes))
    names = [chr(ord("a") + i) for i in range(len(shapes))]
    args = [(n, ty(s, d)) for n, s, d in zip(names, shapes, dts)]
    tb, ti = ty(out, "i1"), ty(out, "i32")
    body = [op_line("p", name, args, tb, attrs), op_line("y", "nn.cast", [("p", tb)], ti, "to = i32")]
    return OpCase(
        fn_ir(args, body, ("y", ti)),
        lambda g: [gen(g, s) for gen, s in zip(gens, shapes)],
        lambda *xs: [np.asarray(fn(*xs)).astype(np.int32)],
        ops=("nn.cast",),
    )


def floats(lo=-2.0, hi=2.0, dtype=np.float32):
    return lambda g, s: g.uniform(lo, hi, s).astype(dtype)


def ints(lo, hi, dtype=np.int32, nonzero=False):
    def gen(g, s):
        x = g.integers(lo, hi, s).astype(dtype)
        return np.where(x == 0, np.ones((), dtype), x) if nonzero else x

    return gen


def bools(g, s):
    return g.random(s) < 0.5


def halves(g, s):
    return (g.integers(-12, 12, s) * 0.5).astype(np.float32)  # ties exercise round-half-even


def tt(f):
    """A torch function as a numpy oracle."""
    return lambda *xs: N(f(*(T(x) for x in xs)))


def _shift_oracle(left: bool, bits: int):
    def f(x, y):
        y = np.where((y < 0) | (y >= bits), bits, y).astype(np.int64)
        x64 = x.astype(np.int64)
        if left:
            return (x64 * (2**y)).astype(x.dtype)  # keeps the low bits
        return np.floor(x64 / (2.0**y)).astype(x.dtype)

    return f


def _int_pow_oracle(a, b):
    a64, b64 = np.broadcast_arrays(a.astype(np.int64), b.astype(np.int64))
    pos = np.array([int(x) ** int(y) if y >= 0 else 0 for x, y in zip(a64.ravel(), b64.ravel())])
    neg = np.where(a64 == 1, 1, np.where(a64 == -1, 1 - 2 * (np.abs(b64) % 2), 0))
    return np.where(b64 >= 0, pos.reshape(a64.shape), neg).astype(a.dtype)


def _prelu_case() -> OpCase:
    tx, ts = ty((2, 3, 4)), ty((3, 1))
    return OpCase(
        fn_ir([("x", tx), ("s", ts)], [op_line("y", "nn.prelu", [("x", tx), ("s", ts)], tx)], ("y", tx)),
        lambda g: [floats()(g, (2, 3, 4)), floats(0, 1)(g, (3, 1))],
        lambda x, s: [N(torch.where(T(x) > 0, T(x), T(x) * T(s)))],
    )


def _clip_case(with_min: bool, with_max: bool, dt: str = "f32") -> OpCase:
    tx, ts = ty((3, 5), dt), ty((), dt)
    npdt = np.float32 if dt == "f32" else np.int32
    args = [("x", tx)] + ([("lo", ts)] if with_min else []) + ([("hi", ts)] if with_max else [])

    def inputs(g):
        x = g.uniform(-5, 5, (3, 5)).astype(npdt)
        return [x] + [np.asarray(v, npdt) for v, on in ((-1, with_min), (2, with_max)) if on]

    def oracle(x, *bounds):
        b = list(bounds)
        lo = T(b.pop(0)) if with_min else None
        hi = T(b.pop(0)) if with_max else None
        return [N(torch.clamp(T(x), lo, hi))]

    seg = "" if with_min or not with_max else "operand_segments = [1, 0, 1]"  # only max: say which
    return OpCase(fn_ir(args, [op_line("y", "nn.clip", args, tx, seg)], ("y", tx)), inputs, oracle)


def _where_case() -> OpCase:
    tc, tx, tyy, to = ty((2, 1, 4), "i1"), ty((3, 1)), ty((4,)), ty((2, 3, 4))
    args = [("c", tc), ("x", tx), ("y", tyy)]
    return OpCase(
        fn_ir(args, [op_line("r", "nn.where", args, to)], ("r", to)),
        lambda g: [bools(g, (2, 1, 4)), floats()(g, (3, 1)), floats()(g, (4,))],
        lambda c, x, y: [N(torch.where(T(c), T(x), T(y)))],
    )


def _special(g, s):
    x = g.uniform(-3, 3, s).astype(np.float32)
    x.ravel()[::3] = np.inf
    x.ravel()[1::4] = -np.inf
    x.ravel()[2::5] = np.nan
    return x


def _cast(src: str, dst: str, gen, oracle, shape=(3, 4)) -> OpCase:
    ts, td = ty(shape, src), ty(shape, dst)
    return OpCase(
        fn_ir([("x", ts)], [op_line("y", "nn.cast", [("x", ts)], td, f"to = {dst}")], ("y", td)),
        lambda g: [gen(g, shape)],
        lambda x: [oracle(x)],
    )


def _bf16_round_trip() -> OpCase:
    t, tb = ty((4, 5)), ty((4, 5), "bf16")
    body = [
        op_line("b", "nn.cast", [("x", t)], tb, "to = bf16"),
        op_line("y", "nn.cast", [("b", tb)], t, "to = f32"),
    ]
    return OpCase(
        fn_ir([("x", t)], body, ("y", t)),
        lambda g: [floats(-100, 100)(g, (4, 5))],
        lambda x: [N(T(x).to(torch.bfloat16).to(torch.float32))],
    )


def _bit_cast() -> OpCase:
    t, ti = ty((3, 4)), ty((3, 4), "i32")
    return OpCase(
        fn_ir([("x", t)], [op_line("y", "nn.bit_cast", [("x", t)], ti, "to = i32")], ("y", ti)),
        lambda g: [floats(-1e3, 1e3)(g, (3, 4))],
        lambda x: [N(T(x).view(torch.int32))],
    )


B = ((2, 3, 4), (3, 1))  # broadcasting operand shapes

CASES: dict[str, list[OpCase]] = {
    # integer forms of the first binary ops
    "nn.div": [
        typed_binary(
            "nn.div",
            tt(lambda a, b: torch.div(a, b, rounding_mode="trunc")),
            *B,
            "i32",
            ints(-50, 50),
            ints(-7, 8, nonzero=True),
        )
    ],
    "nn.pow": [typed_binary("nn.pow", _int_pow_oracle, *B, "i32", ints(-3, 4), ints(-2, 5))],
    "nn.mod": [
        typed_binary("nn.mod", tt(torch.remainder), *B, "i32", ints(-50, 50), ints(-7, 8, nonzero=True)),
        typed_binary("nn.mod", tt(torch.fmod), *B, "f32", floats(-9, 9), floats(0.5, 3), "fmod = true"),
        typed_binary(
            "nn.mod", tt(torch.remainder), *B, "f64", floats(-9, 9, np.float64), floats(-3, -0.5, np.float64)
        ),
        typed_binary(
            "nn.mod", tt(torch.fmod), *B, "i32", ints(-50, 50), ints(-7, 8, nonzero=True), "fmod = true"
        ),
        typed_binary("nn.mod", tt(torch.remainder), *B, "ui8", ints(0, 256, np.uint8), ints(1, 20, np.uint8)),
    ],
    "nn.bit_shift": [
        typed_binary(
            "nn.bit_shift",
            _shift_oracle(True, 8),
            *B,
            "i8",
            ints(-128, 128, np.int8),
            ints(-2, 11, np.int8),
            'direction = "LEFT"',
        ),
        typed_binary(
            "nn.bit_shift",
            _shift_oracle(False, 8),
            *B,
            "i8",
            ints(-128, 128, np.int8),
            ints(-2, 11, np.int8),
            'direction = "RIGHT"',
        ),
        typed_binary(
            "nn.bit_shift",
            _shift_oracle(False, 32),
            *B,
            "ui32",
            ints(0, 2**32, np.uint32),
            ints(0, 40, np.uint32),
            'direction = "RIGHT"',
        ),
    ],
    "nn.bitwise_and": [
        typed_binary(
            "nn.bitwise_and", tt(torch.bitwise_and), *B, "ui8", ints(0, 256, np.uint8), ints(0, 256, np.uint8)
        )
    ],
    "nn.bitwise_or": [
        typed_binary(
            "nn.bitwise_or", tt(torch.bitwise_or), *B, "i32", ints(-(2**31), 2**31), ints(-(2**31), 2**31)
        )
    ],
    "nn.bitwise_xor": [
        typed_binary(
            "nn.bitwise_xor",
            tt(torch.bitwise_xor),
            *B,
            "i64",
            ints(-(2**40), 2**40, np.int64),
            ints(-9, 9, np.int64),
        )
    ],
    "nn.bitwise_not": [
        typed_unary("nn.bitwise_not", tt(torch.bitwise_not), (3, 4), "i16", ints(-3000, 3000, np.int16))
    ],
    # unary math
    "nn.sin": [unary("nn.sin", torch.sin, lo=-4, hi=4)],
    "nn.cos": [unary("nn.cos", torch.cos, lo=-4, hi=4)],
    "nn.tan": [unary("nn.tan", torch.tan, lo=-1.2, hi=1.2)],
    "nn.asin": [unary("nn.asin", torch.asin, lo=-0.99, hi=0.99)],
    "nn.acos": [unary("nn.acos", torch.acos, lo=-0.99, hi=0.99)],
    "nn.atan": [unary("nn.atan", torch.atan, lo=-5, hi=5)],
    "nn.sinh": [unary("nn.sinh", torch.sinh)],
    "nn.cosh": [unary("nn.cosh", torch.cosh)],
    "nn.asinh": [unary("nn.asinh", torch.asinh, lo=-5, hi=5)],
    "nn.acosh": [unary("nn.acosh", torch.acosh, lo=1.01, hi=5)],
    "nn.atanh": [unary("nn.atanh", torch.atanh, lo=-0.95, hi=0.95)],
    "nn.ceil": [unary("nn.ceil", torch.ceil, lo=-5, hi=5)],
    "nn.floor": [unary("nn.floor", torch.floor, lo=-5, hi=5)],
    "nn.round": [typed_unary("nn.round", tt(torch.round), (4, 6), "f32", halves)],
    "nn.reciprocal": [unary("nn.reciprocal", torch.reciprocal, lo=0.5, hi=3)],
    "nn.sign": [
        typed_unary("nn.sign", tt(torch.sign), (4, 6), "f32", halves),
        typed_unary("nn.sign", tt(torch.sign), (4, 6), "i64", ints(-3, 4, np.int64)),
    ],
    "nn.neg": [typed_unary("nn.neg", tt(torch.neg), (3, 4), "i32", ints(-100, 100))],
    "nn.abs": [typed_unary("nn.abs", tt(torch.abs), (3, 4), "i8", ints(-127, 128, np.int8))],
    "nn.relu": [typed_unary("nn.relu", tt(torch.relu), (3, 4), "i64", ints(-100, 100, np.int64))],
    # activations
    "nn.elu": [typed_unary("nn.elu", tt(lambda x: F.elu(x, 0.7)), (3, 5), "f32", floats(), "alpha = 0.7")],
    "nn.celu": [typed_unary("nn.celu", tt(lambda x: F.celu(x, 1.5)), (3, 5), "f32", floats(), "alpha = 1.5")],
    "nn.selu": [
        typed_unary(
            "nn.selu",
            tt(F.selu),
            (3, 5),
            "f32",
            floats(),
            "alpha = 1.6732632423543772, gamma = 1.0507009873554805",
        )
    ],
    "nn.leaky_relu": [
        typed_unary(
            "nn.leaky_relu", tt(lambda x: F.leaky_relu(x, 0.2)), (3, 5), "f32", floats(), "alpha = 0.2"
        )
    ],
    "nn.thresholded_relu": [
        typed_unary(
            "nn.thresholded_relu",
            tt(lambda x: F.threshold(x, 0.5, 0.0)),
            (3, 5),
            "f32",
            floats(),
            "alpha = 0.5",
        )
    ],
    "nn.hard_sigmoid": [
        typed_unary(
            "nn.hard_sigmoid", tt(F.hardsigmoid), (3, 5), "f32", floats(-5, 5), f"alpha = {1 / 6}, beta = 0.5"
        )
    ],
    "nn.hard_swish": [typed_unary("nn.hard_swish", tt(F.hardswish), (3, 5), "f32", floats(-5, 5))],
    "nn.softplus": [typed_unary("nn.softplus", tt(F.softplus), (3, 5), "f32", floats(-30, 30))],
    "nn.softsign": [typed_unary("nn.softsign", tt(F.softsign), (3, 5), "f32", floats(-5, 5))],
    "nn.gelu": [
        typed_unary("nn.gelu", tt(F.gelu), (3, 5), "f32", floats(-3, 3)),
        typed_unary(
            "nn.gelu",
            tt(lambda x: F.gelu(x, approximate="tanh")),
            (3, 5),
            "f32",
            floats(-12, 12),
            'approximate = "tanh"',
        ),
    ],
    "nn.mish": [typed_unary("nn.mish", tt(F.mish), (3, 5), "f32", floats(-5, 5))],
    "nn.swish": [
        typed_unary(
            "nn.swish", tt(lambda x: x * torch.sigmoid(1.5 * x)), (3, 5), "f32", floats(-5, 5), "alpha = 1.5"
        )
    ],
    "nn.shrink": [
        typed_unary(
            "nn.shrink",
            tt(lambda x: F.softshrink(x, 0.7)),
            (3, 5),
            "f32",
            floats(),
            "lambd = 0.7, bias = 0.7",
        ),
        typed_unary(
            "nn.shrink",
            tt(lambda x: F.hardshrink(x, 0.5)),
            (3, 5),
            "f32",
            floats(),
            "lambd = 0.5, bias = 0.0",
        ),
    ],
    "nn.prelu": [_prelu_case()],
    "nn.clip": [_clip_case(True, True), _clip_case(False, True), _clip_case(True, False, "i32")],
    # comparisons and logic
    "nn.equal": [to_i32("nn.equal", tt(torch.eq), list(B), ["i32", "i32"], [ints(0, 3), ints(0, 3)])],
    "nn.less": [to_i32("nn.less", tt(torch.lt), list(B), ["f32", "f32"], [halves, halves])],
    "nn.less_or_equal": [to_i32("nn.less_or_equal", tt(torch.le), list(B), ["f32", "f32"], [halves, halves])],
    "nn.greater": [
        to_i32(
            "nn.greater", tt(torch.gt), list(B), ["ui8", "ui8"], [ints(0, 4, np.uint8), ints(0, 4, np.uint8)]
        )
    ],
    "nn.greater_or_equal": [
        to_i32(
            "nn.greater_or_equal",
            tt(torch.ge),
            list(B),
            ["i64", "i64"],
            [ints(-2, 2, np.int64), ints(-2, 2, np.int64)],
        )
    ],
    "nn.and": [to_i32("nn.and", tt(torch.logical_and), list(B), ["i1", "i1"], [bools, bools])],
    "nn.or": [to_i32("nn.or", tt(torch.logical_or), list(B), ["i1", "i1"], [bools, bools])],
    "nn.xor": [to_i32("nn.xor", tt(torch.logical_xor), list(B), ["i1", "i1"], [bools, bools])],
    "nn.not": [to_i32("nn.not", tt(torch.logical_not), [(3, 4)], ["i1"], [bools])],
    "nn.is_inf": [
        to_i32("nn.is_inf", tt(torch.isinf), [(4, 5)], ["f32"], [_special]),
        to_i32("nn.is_inf", tt(torch.isneginf), [(4, 5)], ["f32"], [_special], "detect_positive = false"),
    ],
    "nn.is_nan": [to_i32("nn.is_nan", tt(torch.isnan), [(4, 5)], ["f32"], [_special])],
    "nn.where": [_where_case()],
    # casts
    "nn.cast": [
        _cast("f32", "i32", floats(-100, 100), lambda x: N(T(x).to(torch.int32))),
        _cast("f32", "f16", floats(-100, 100), lambda x: N(T(x).to(torch.float16))),
        _cast("i64", "i8", ints(-1000, 1000, np.int64), lambda x: N(T(x).to(torch.int8))),
        _cast("i1", "f32", bools, lambda x: N(T(x).to(torch.float32))),
        _bf16_round_trip(),
    ],
    "nn.bit_cast": [_bit_cast()],
}
