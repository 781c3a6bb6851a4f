"""Cases for the reductions beyond the first five, arg-max/min, cumulative ops, the softmax family
(nn.softmax itself is in core.py) and the losses."""

from __future__ import annotations

import numpy as np
import torch

from tests.ir.op_cases.base import N, OpCase, T, rand, reduce, ty


def _func(args: list[tuple[str, str]], body: str, result: str, rtype: str) -> str:
    params = ", ".join(f"%{n}: {t}" for n, t in args)
    return f"func.func @main({params}) -> {rtype} {{\n{body}  func.return {result} : {rtype}\n}}"


def arg_case(name: str, fn, axis: int, keepdims: bool, last: bool, shape=(3, 4, 5)) -> OpCase:
    out = tuple(1 if i == axis % len(shape) else d for i, d in enumerate(shape))
    if not keepdims:
        out = tuple(d for i, d in enumerate(shape) if i != axis % len(shape))
    attrs = f"axis = {axis}, keepdims = {'true' if keepdims else 'false'}, select_last_index = {'true' if last else 'false'}"
    body = f"  %y = {name} %x {{{attrs}}} : ({ty(shape)}) -> {ty(out, 'i64')}\n"
    # Small integers as floats: ties are common, so first/last index matters.
    return OpCase(
        _func([("x", ty(shape))], body, "%y", ty(out, "i64")),
        lambda g: [g.integers(0, 3, shape).astype(np.float32)],
        lambda x: [fn(T(x), axis, keepdims, last)],
    )


def _arg_oracle(pick_max: bool):
    def oracle(x: torch.Tensor, axis: int, keepdims: bool, last: bool) -> np.ndarray:
        ext = x.amax(axis, keepdim=True) if pick_max else x.amin(axis, keepdim=True)
        hit = x == ext
        n = x.shape[axis]
        pos = torch.arange(n).reshape([-1 if i == axis % x.dim() else 1 for i in range(x.dim())])
        if last:
            idx = torch.where(hit, pos, torch.full_like(pos, -1)).amax(axis, keepdim=keepdims)
        else:
            idx = torch.where(hit, pos, torch.full_like(pos, n)).amin(axis, keepdim=keepdims)
        return N(idx.to(torch.int64))

    return oracle


def cum_case(name: str, exclusive: bool, reverse: bool, dtype: str = "f32") -> OpCase:
    shape = (3, 5)
    np_dt = np.float32 if dtype == "f32" else np.int32
    body = (
        "  %a = nn.constant dense<1> : tensor<i64>\n"
        f"  %y = {name} %x, %a {{exclusive = {str(exclusive).lower()}, reverse = {str(reverse).lower()}}}"
        f" : ({ty(shape, dtype)}, tensor<i64>) -> {ty(shape, dtype)}\n"
    )
    prod = name == "nn.cum_prod"

    def oracle(x: np.ndarray) -> list[np.ndarray]:
        t = T(x)
        if reverse:
            t = torch.flip(t, [1])
        if exclusive:  # shift by one along the axis, the identity entering first
            first = torch.full_like(t[:, :1], 1 if prod else 0)
            t = torch.cat([first, t[:, :-1]], 1)
        y = torch.cumprod(t, 1) if prod else torch.cumsum(t, 1)
        if reverse:
            y = torch.flip(y, [1])
        return [N(y.to(t.dtype))]

    lo, hi = (0.5, 1.5) if prod else (-3, 3)
    gen = (
        (lambda g: [g.uniform(lo, hi, shape).astype(np_dt)])
        if dtype == "f32"
        else (lambda g: [g.integers(-3, 4, shape).astype(np_dt)])
    )
    return OpCase(_func([("x", ty(shape, dtype))], body, "%y", ty(shape, dtype)), gen, oracle)


def axis_case(name: str, fn, axis: int, shape=(2, 3, 4)) -> OpCase:
    body = f"  %y = {name} %x {{axis = {axis}}} : {ty(shape)}\n"
    return OpCase(
        _func([("x", ty(shape))], body, "%y", ty(shape)), rand(*shape, lo=-4, hi=4), lambda x: [fn(x, axis)]
    )


def _hardmax(x: np.ndarray, axis: int) -> np.ndarray:
    t = torch.movedim(T(x), axis, -1)
    oh = torch.nn.functional.one_hot(t.argmax(-1), t.shape[-1]).to(t.dtype)
    return N(torch.movedim(oh, -1, axis))


def nll_case(reduction: str, ignore: int | None, weighted: bool) -> OpCase:
    x_t, t_t, w_t = ty((4, 5, 3)), ty((4, 3), "i64"), ty((5,))
    out = ty((4, 3)) if reduction == "none" else ty(())
    attrs = f'reduction = "{reduction}"' + (f", ignore_index = {ignore}" if ignore is not None else "")
    operands = "%x, %t, %w" if weighted else "%x, %t"
    types = f"{x_t}, {t_t}, {w_t}" if weighted else f"{x_t}, {t_t}"
    body = f"  %y = nn.negative_log_likelihood_loss {operands} {{{attrs}}} : ({types}) -> {out}\n"
    args = [("x", x_t), ("t", t_t)] + ([("w", w_t)] if weighted else [])

    def gen(g: np.random.Generator) -> list[np.ndarray]:
        # log-probabilities, as the loss gets them: its value stays away from 0 (a relative check of a
        # sum of mixed-sign normals near 0 fails on f32 rounding alone)
        logits = g.standard_normal((4, 5, 3))
        logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        ins = [logp.astype(np.float32), g.integers(0, 5, (4, 3)).astype(np.int64)]
        if ignore is not None:
            ins[1][0, 0] = ignore
        return ins + ([g.uniform(0.5, 2.0, 5).astype(np.float32)] if weighted else [])

    def oracle(x, t, w=None) -> list[np.ndarray]:
        kw = {"ignore_index": ignore} if ignore is not None else {}
        y = torch.nn.functional.nll_loss(T(x), T(t), None if w is None else T(w), reduction=reduction, **kw)
        return [N(y)]

    return OpCase(_func(args, body, "%y", out), gen, oracle)


def _l2(x, a, k):
    return torch.linalg.vector_norm(x, 2, a, keepdim=k)


CASES: dict[str, list[OpCase]] = {
    "nn.reduce_l1": [reduce("nn.reduce_l1", lambda x, a, k: torch.linalg.vector_norm(x, 1, a, keepdim=k))],
    "nn.reduce_l2": [reduce("nn.reduce_l2", _l2, axes=(0, 2), keepdims=False)],
    "nn.reduce_sum_square": [reduce("nn.reduce_sum_square", lambda x, a, k: (x * x).sum(a, keepdim=k))],
    "nn.reduce_log_sum": [
        OpCase(
            reduce("nn.reduce_log_sum", None).ir,
            rand(2, 3, 4, lo=0.1, hi=3.0),
            lambda x: [N(torch.log(T(x).sum(1, keepdim=True)))],
        )
    ],
    "nn.reduce_log_sum_exp": [
        reduce("nn.reduce_log_sum_exp", lambda x, a, k: torch.logsumexp(x, a, keepdim=k), axes=(2,))
    ],
    "nn.arg_max": [
        arg_case("nn.arg_max", _arg_oracle(True), 1, True, False),
        arg_case("nn.arg_max", _arg_oracle(True), -1, False, True),
    ],
    "nn.arg_min": [
        arg_case("nn.arg_min", _arg_oracle(False), 0, False, False),
        arg_case("nn.arg_min", _arg_oracle(False), 2, True, True),
    ],
    "nn.cum_sum": [
        cum_case("nn.cum_sum", False, False),
        cum_case("nn.cum_sum", True, True),
        cum_case("nn.cum_sum", True, False, "i32"),
    ],
    "nn.cum_prod": [cum_case("nn.cum_prod", False, True), cum_case("nn.cum_prod", True, False)],
    "nn.log_softmax": [axis_case("nn.log_softmax", lambda x, a: N(torch.log_softmax(T(x), a)), 1)],
    "nn.hardmax": [axis_case("nn.hardmax", _hardmax, 0), axis_case("nn.hardmax", _hardmax, -1)],
    "nn.negative_log_likelihood_loss": [
        nll_case("none", None, False),
        nll_case("mean", 2, True),
        nll_case("sum", -1, True),
    ],
}
