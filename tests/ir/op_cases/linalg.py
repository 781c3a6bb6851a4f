"""Cases for the integer matrix products, det, einsum, attention, rotary embedding, linear attention
and the quant dialect (nn.matmul itself is in core.py)."""

from __future__ import annotations

import numpy as np
import torch

from tests.ir.op_cases.base import N, OpCase, T, ty


def _func(args: list[tuple[str, str]], body: str, results: list[tuple[str, str]]) -> str:
    params = ", ".join(f"%{n}: {t}" for n, t in args)
    rtypes = [t for _, t in results]
    rtype = rtypes[0] if len(rtypes) == 1 else "(" + ", ".join(rtypes) + ")"
    names = ", ".join(n for n, _ in results)
    return f"func.func @main({params}) -> {rtype} {{\n{body}  func.return {names} : {', '.join(rtypes)}\n}}"


def _op(results: list[str], name: str, operands: list[tuple[str, str]], attrs: str, rtypes: list[str]) -> str:
    """One op line in the custom form: ``%r = name %a, %b {attrs} : (types) -> types``."""
    ins = ", ".join(f"%{n}" for n, _ in operands)
    outs = rtypes[0] if len(rtypes) == 1 else "(" + ", ".join(rtypes) + ")"
    a = f" {{{attrs}}}" if attrs else ""
    return f"  {', '.join(results)} = {name} {ins}{a} : ({', '.join(t for _, t in operands)}) -> {outs}\n"


def simple(
    name: str, args: list[tuple[str, str]], attrs: str, rtypes: list[str], gen, oracle, rtol=1e-5
) -> OpCase:
    names = [f"%r{i}" for i in range(len(rtypes))]
    body = _op(names, name, args, attrs, rtypes)
    return OpCase(_func(args, body, list(zip(names, rtypes))), gen, oracle, rtol=rtol)


def f32(g: np.random.Generator, *shape: int, lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
    return g.uniform(lo, hi, shape).astype(np.float32)


# -- integer products, det, einsum -------------------------------------------------------------------


def _matmul_integer(a, b, azp, bzp) -> list[np.ndarray]:
    at = T(a).to(torch.int64) - T(azp).to(torch.int64).unsqueeze(1)
    bt = T(b).to(torch.int64) - T(bzp).to(torch.int64)
    return [N((at @ bt).to(torch.int32))]


def _qlinear(a, sa, za, b, sb, zb, sy, zy) -> list[np.ndarray]:
    real_a = (T(a).double() - T(za).double()) * T(sa).double()
    real_b = (T(b).double() - T(zb).double()) * T(sb).double()
    y = torch.round((real_a @ real_b) / T(sy).double()) + T(zy).double()
    return [N(torch.clamp(y, -128, 127).to(torch.int8))]


def _qlinear_inputs(g: np.random.Generator) -> list[np.ndarray]:
    return [
        g.integers(-128, 128, (2, 3, 4)).astype(np.int8),
        np.asarray(0.02, np.float32),
        np.asarray(3, np.int8),
        g.integers(-128, 128, (4, 5)).astype(np.int8),
        np.asarray(0.01, np.float32),
        np.asarray(-2, np.int8),
        np.asarray(0.05, np.float32),
        np.asarray(-4, np.int8),
    ]


def einsum_case(eq: str, shapes: list[tuple[int, ...]], out: tuple[int, ...]) -> OpCase:
    args = [(f"x{i}", ty(s)) for i, s in enumerate(shapes)]
    return simple(
        "nn.einsum",
        args,
        f'equation = "{eq}"',
        [ty(out)],
        lambda g: [f32(g, *s) for s in shapes],
        lambda *xs: [N(torch.einsum(eq.replace(" ", ""), *[T(x) for x in xs]))],
    )


# -- attention ----------------------------------------------------------------------------------------


def _attention_gqa_case() -> OpCase:
    """GQA (4 query heads on 2 kv heads), a float mask, an explicit scale, scores after the mask."""
    qt, kt, vt, mt = ty((2, 4, 3, 8)), ty((2, 2, 5, 8)), ty((2, 2, 5, 6)), ty((3, 5))
    rts = [ty((2, 4, 3, 6)), kt, vt, ty((2, 4, 3, 5))]
    args = [("q", qt), ("k", kt), ("v", vt), ("m", mt)]
    attrs = "qk_matmul_output_mode = 2, scale = 0.3"

    def oracle(q, k, v, m):
        y = torch.nn.functional.scaled_dot_product_attention(
            T(q), T(k), T(v), attn_mask=T(m), scale=0.3, enable_gqa=True
        )
        kk = torch.repeat_interleave(T(k), 2, dim=1)
        scores = torch.einsum("bhqd,bhkd->bhqk", T(q), kk) * 0.3 + T(m)
        return [N(y), k, v, N(scores)]

    return simple(
        "nn.attention",
        args,
        attrs,
        rts,
        lambda g: [f32(g, 2, 4, 3, 8), f32(g, 2, 2, 5, 8), f32(g, 2, 2, 5, 6), f32(g, 3, 5, lo=-2, hi=0)],
        oracle,
    )


def _attention_cache_case() -> OpCase:
    """A KV cache (4 past + 3 new keys), causal with a left window of 2, softcap, probabilities out."""
    qt, kt, pt = ty((1, 2, 3, 4)), ty((1, 2, 3, 4)), ty((1, 2, 4, 4))
    total = ty((1, 2, 7, 4))
    args = [("q", qt), ("k", kt), ("v", kt), ("pk", pt), ("pv", pt)]
    rts = [ty((1, 2, 3, 4)), total, total, ty((1, 2, 3, 7))]
    attrs = "is_causal = true, left_window_size = 2, qk_matmul_output_mode = 3, softcap = 1.5"
    body = (
        "  %r0, %r1, %r2, %r3 = nn.attention %q, %k, %v, %pk, %pv {"
        + attrs
        + ", operand_segments = [1, 1, 1, 0, 1, 1, 0]}"
        + f" : ({qt}, {kt}, {kt}, {pt}, {pt}) -> ({', '.join(rts)})\n"
    )

    def oracle(q, k, v, pk, pv):
        keys, vals = torch.cat([T(pk), T(k)], 2), torch.cat([T(pv), T(v)], 2)
        s = torch.einsum("bhqd,bhkd->bhqk", T(q), keys) / 2.0  # 1/sqrt(4)
        s = 1.5 * torch.tanh(s / 1.5)
        ones = torch.ones(3, 7, dtype=torch.bool)
        allowed = torch.tril(ones, diagonal=4) & torch.triu(ones, diagonal=4 - 2)
        p = torch.softmax(s.masked_fill(~allowed, float("-inf")), -1)
        return [N(p @ vals), N(keys), N(vals), N(p)]

    return OpCase(
        _func(args, body, [(f"%r{i}", t) for i, t in enumerate(rts)]),
        lambda g: [
            f32(g, 1, 2, 3, 4),
            f32(g, 1, 2, 3, 4),
            f32(g, 1, 2, 3, 4),
            f32(g, 1, 2, 4, 4),
            f32(g, 1, 2, 4, 4),
        ],
        oracle,
    )


def _attention_nonpad_case() -> OpCase:
    """An external cache with per-batch valid lengths, causal (offset = valid - Sq), a bool mask; the
    first query row of batch 1 sees no key and is zero."""
    qt, kt, mt, nt = ty((2, 1, 3, 4)), ty((2, 1, 6, 4)), ty((3, 6), "i1"), ty((2,), "i64")
    args = [("q", qt), ("k", kt), ("v", kt), ("m", mt), ("n", nt)]
    rts = [qt, kt, kt, ty((2, 1, 3, 6))]
    body = (
        "  %r0, %r1, %r2, %r3 = nn.attention %q, %k, %v, %m, %n {is_causal = true, qk_matmul_output_mode = 1,"
        " operand_segments = [1, 1, 1, 1, 0, 0, 1]}"
        + f" : ({qt}, {kt}, {kt}, {mt}, {nt}) -> ({', '.join(rts)})\n"
    )

    def gen(g):
        mask = g.random((3, 6)) < 0.8
        mask[:, 0] = True
        return [f32(g, 2, 1, 3, 4), f32(g, 2, 1, 6, 4), f32(g, 2, 1, 6, 4), mask, np.array([5, 2], np.int64)]

    def oracle(q, k, v, m, n):
        s = torch.einsum("bhqd,bhkd->bhqk", T(q), T(k)) / 2.0
        i, j = torch.arange(3).view(1, 3, 1), torch.arange(6).view(1, 1, 6)
        lens = T(n).view(2, 1, 1)
        allowed = (j <= i + (lens - 3)) & (j < lens) & T(m)
        p = torch.softmax(s.masked_fill(~allowed[:, None], float("-inf")), -1).nan_to_num(0.0)
        return [N(p @ T(v)), k, v, N(s)]

    return OpCase(_func(args, body, [(f"%r{i}", t) for i, t in enumerate(rts)]), gen, oracle)


def _flex_attention_case() -> OpCase:
    """GQA, a score modifier that halves the scores and adds a bias, a probability modifier that
    squares them."""
    qt, kt, st = ty((1, 4, 3, 8)), ty((1, 2, 5, 8)), ty((1, 4, 3, 5))
    ir = (
        f"func.func @main(%q: {qt}, %k: {kt}, %v: {kt}, %b: {ty((3, 5))}) -> {qt} {{\n"
        "  %y = nn.flex_attention %q, %k, %v {scale = 0.25, softmax_precision = f32} {\n"
        f"  ^bb0(%s: {st}):\n"
        "    %h = nn.constant dense<0.5> : tensor<f32>\n"
        f"    %m = nn.mul %s, %h : ({st}, tensor<f32>) -> {st}\n"
        f"    %a = nn.add %m, %b : ({st}, {ty((3, 5))}) -> {st}\n"
        f"    nn.yield %a : ({st}) -> ()\n"
        "  } {\n"
        f"  ^bb0(%p: {st}):\n"
        f"    %p2 = nn.mul %p, %p : {st}\n"
        f"    nn.yield %p2 : ({st}) -> ()\n"
        f"  }} : ({qt}, {kt}, {kt}) -> {qt}\n"
        f"  func.return %y : {qt}\n}}"
    )

    def oracle(q, k, v, b):
        kk, vv = T(k).repeat_interleave(2, 1), T(v).repeat_interleave(2, 1)
        s = torch.einsum("bhqd,bhkd->bhqk", T(q), kk) * 0.25 * 0.5 + T(b)
        p = torch.softmax(s, -1) ** 2
        return [N(p @ vv)]

    return OpCase(
        ir,
        lambda g: [f32(g, 1, 4, 3, 8), f32(g, 1, 2, 5, 8), f32(g, 1, 2, 5, 8), f32(g, 3, 5)],
        oracle,
        ops=("nn.yield",),
    )


def _rotary_case(interleaved: bool) -> OpCase:
    """4-D with position ids (halves), or 3-D with num_heads, a partial rotary dim and per-token caches
    (interleaved). Oracle: the pairs as complex numbers times cos + i sin."""
    if not interleaved:
        xs, cs, ps = (2, 3, 4, 8), (10, 4), (2, 4)
        args = [("x", ty(xs)), ("c", ty(cs)), ("s", ty(cs)), ("p", ty(ps, "i64"))]
        attrs = "interleaved = false, num_heads = 0, rotary_embedding_dim = 0"
    else:
        xs, cs = (2, 4, 16), (2, 4, 2)
        args = [("x", ty(xs)), ("c", ty(cs)), ("s", ty(cs))]
        attrs = "interleaved = true, num_heads = 2, rotary_embedding_dim = 4"

    def gen(g):
        ins = [f32(g, *xs), f32(g, *cs), f32(g, *cs)]
        return ins + ([g.integers(0, 10, (2, 4)).astype(np.int64)] if not interleaved else [])

    def oracle(x, c, s, p=None):
        rot = torch.complex(T(c), T(s))
        if p is not None:
            rot = rot[T(p)]  # (B, S, R/2)
        t = T(x).clone()
        if not interleaved:
            z = torch.complex(t[..., :4], t[..., 4:]) * rot[:, None]
            return [N(torch.cat([z.real, z.imag], -1))]
        heads = t.view(2, 4, 2, 8)  # (B, S, H, D)
        z = torch.view_as_complex(heads[..., :4].reshape(2, 4, 2, 2, 2).contiguous()) * rot[:, :, None]
        heads[..., :4] = torch.view_as_real(z).reshape(2, 4, 2, 4)
        return [N(heads.reshape(2, 4, 16))]

    return simple("nn.rotary_embedding", args, attrs, [ty(xs)], gen, oracle)


def _split(x: torch.Tensor, heads: int) -> torch.Tensor:
    b, t, f = x.shape
    return x.view(b, t, heads, f // heads).double()


def _linear_attention_case(rule: str) -> OpCase:
    """linear (GQA, with a past state): causal (q k^T) v in closed form; gated (per key feature):
    the decays folded into q and k through cumulative sums; gated_delta (per head): the Householder
    form S = a (I - b k k^T) S + b k v^T."""
    b, t, hq, hkv, dk, dv = 2, 4, 4, 2, 3, 5
    qt, kt, vt, st = ty((b, t, hq * dk)), ty((b, t, hkv * dk)), ty((b, t, hkv * dv)), ty((b, hkv, dk, dv))
    gt = ty((b, t, hkv * dk)) if rule == "gated" else ty((b, t, hkv))
    bt = ty((b, t, hkv))
    args = [("q", qt), ("k", kt), ("v", vt), ("s", st)]
    if rule != "linear":
        args.append(("g", gt))
    if rule == "gated_delta":
        args.append(("beta", bt))
    attrs = f'kv_num_heads = {hkv}, q_num_heads = {hq}, scale = 0.5, update_rule = "{rule}"'
    rts = [ty((b, t, hq * dv)), st]

    def gen(g):
        ins = [f32(g, b, t, hq * dk), f32(g, b, t, hkv * dk), f32(g, b, t, hkv * dv), f32(g, b, hkv, dk, dv)]
        if rule != "linear":
            ins.append(f32(g, b, t, hkv * dk if rule == "gated" else hkv, lo=-0.5, hi=0.0))
        if rule == "gated_delta":
            ins.append(f32(g, b, t, hkv, lo=0.1, hi=0.9))
        return ins

    def oracle(q, k, v, s0, g=None, beta=None):
        qh, kh, vh = _split(T(q), hq), _split(T(k), hkv), _split(T(v), hkv)
        kh, vh = kh.repeat_interleave(2, 2), vh.repeat_interleave(2, 2)  # kv heads per query head
        s0h = T(s0).double().repeat_interleave(2, 1)  # (B, Hq, dk, dv)
        if rule in ("linear", "gated"):
            if rule == "gated":
                cum = torch.cumsum(_split(T(g), hkv), 1).repeat_interleave(2, 2)  # log of the running decay
                qh, kd = qh * torch.exp(cum), kh * torch.exp(-cum)
            else:
                kd = kh
            scores = torch.einsum("bthd,bshd->bhts", qh, kd).tril()
            out = torch.einsum("bhts,bshe->bthe", scores, vh) + torch.einsum("bthd,bhde->bthe", qh, s0h)
            decay_all = torch.exp(cum[:, -1]) if rule == "gated" else torch.ones_like(kh[:, 0])
            state = decay_all[..., None] * s0h + torch.einsum("bshd,bshe->bhde", kd * decay_all[:, None], vh)
            state = state[:, ::2]
        else:
            state = T(s0).double()
            kk, vv, a, bb = _split(T(k), hkv), _split(T(v), hkv), torch.exp(T(g).double()), T(beta).double()
            eye = torch.eye(dk, dtype=torch.float64)
            outs = []
            for step in range(t):
                kv = kk[:, step]  # (B, Hkv, dk)
                house = eye - bb[:, step, :, None, None] * kv[..., :, None] * kv[..., None, :]
                state = a[:, step, :, None, None] * (house @ state) + bb[:, step, :, None, None] * (
                    kv[..., :, None] * vv[:, step][..., None, :]
                )
                outs.append(torch.einsum("bhd,bhde->bhe", qh[:, step], state.repeat_interleave(2, 1)))
            out = torch.stack(outs, 1)
        return [N((0.5 * out).reshape(b, t, hq * dv).float()), N(state.float())]

    names = ["%r0", "%r1"]
    body = _op(names, "nn.linear_attention", args, attrs, rts)
    return OpCase(_func(args, body, list(zip(names, rts))), gen, oracle)


# -- quant --------------------------------------------------------------------------------------------


def _quantize_per_axis(x, s, z) -> list[np.ndarray]:
    q = torch.round(T(x).double() / T(s).double()[:, None]) + T(z).double()[:, None]
    return [N(torch.clamp(q, -128, 127).to(torch.int8))]


def _quantize_blocked(x, s, z) -> list[np.ndarray]:
    cols = np.arange(x.shape[1]) // 2  # the block of each column
    q = np.rint(x.astype(np.float64) / s[:, cols].astype(np.float64)) + z[:, cols]
    return [np.clip(q, 0, 255).astype(np.uint8)]


def _dequantize_per_axis(x, s, z) -> list[np.ndarray]:
    return [N((T(x).float() - T(z).float()[None, :, None]) * T(s)[None, :, None])]


def _dequantize_blocked(x, s, z) -> list[np.ndarray]:
    rows = np.arange(x.shape[0]) // 3
    return [((x.astype(np.float32) - z[rows].astype(np.float32)) * s[rows]).astype(np.float32)]


def _float8(g: np.random.Generator) -> list[np.ndarray]:
    import ml_dtypes

    return [
        (g.standard_normal((2, 4, 8)) * 8).astype(ml_dtypes.float8_e4m3fn),
        (g.standard_normal((8, 3)) * 8).astype(ml_dtypes.float8_e5m2),
    ]


CASES: dict[str, list[OpCase]] = {
    "nn.matmul_float8": [
        simple(
            "nn.matmul_float8",
            [("a", ty((2, 4, 8), "f8E4M3FN")), ("b", ty((8, 3), "f8E5M2"))],
            "",
            [ty((2, 4, 3))],
            _float8,
            lambda a, b: [np.matmul(a.astype(np.float64), b.astype(np.float64)).astype(np.float32)],
        )
    ],
    "nn.matmul_integer": [
        simple(
            "nn.matmul_integer",
            [
                ("a", ty((4, 3), "ui8")),
                ("b", ty((3, 2), "ui8")),
                ("za", ty((4,), "ui8")),
                ("zb", ty((2,), "ui8")),
            ],
            "",
            [ty((4, 2), "i32")],
            lambda g: [g.integers(0, 256, s).astype(np.uint8) for s in ((4, 3), (3, 2), (4,), (2,))],
            _matmul_integer,
        )
    ],
    "nn.qlinear_matmul": [
        simple(
            "nn.qlinear_matmul",
            [
                ("a", ty((2, 3, 4), "i8")),
                ("sa", ty(())),
                ("za", ty((), "i8")),
                ("b", ty((4, 5), "i8")),
                ("sb", ty(())),
                ("zb", ty((), "i8")),
                ("sy", ty(())),
                ("zy", ty((), "i8")),
            ],
            "",
            [ty((2, 3, 5), "i8")],
            _qlinear_inputs,
            _qlinear,
        )
    ],
    "nn.det": [
        simple(
            "nn.det",
            [("x", ty((3, 4, 4)))],
            "",
            [ty((3,))],
            lambda g: [f32(g, 3, 4, 4)],
            lambda x: [N(torch.linalg.det(T(x)))],
            rtol=1e-4,
        )
    ],
    "nn.einsum": [
        einsum_case("bij, bjk -> bik", [(2, 3, 4), (2, 4, 5)], (2, 3, 5)),
        einsum_case("...ii->...i", [(2, 3, 3)], (2, 3)),
        einsum_case("ij,jk", [(3, 4), (4, 2)], (3, 2)),
    ],
    "nn.attention": [_attention_gqa_case(), _attention_cache_case(), _attention_nonpad_case()],
    "nn.flex_attention": [_flex_attention_case()],
    "nn.rotary_embedding": [_rotary_case(False), _rotary_case(True)],
    "nn.linear_attention": [
        _linear_attention_case("linear"),
        _linear_attention_case("gated"),
        _linear_attention_case("gated_delta"),
    ],
    "quant.quantize_linear": [
        simple(
            "quant.quantize_linear",
            [("x", ty((2, 3, 4))), ("s", ty((3,))), ("z", ty((3,), "i8"))],
            "axis = 1, block_size = 0, output_dtype = i8",
            [ty((2, 3, 4), "i8")],
            lambda g: [
                f32(g, 2, 3, 4, lo=-3, hi=3),
                np.array([0.01, 0.02, 0.05], np.float32),
                np.array([0, 5, -7], np.int8),
            ],
            _quantize_per_axis,
        ),
        simple(
            "quant.quantize_linear",
            [("x", ty((3, 5))), ("s", ty((3, 3))), ("z", ty((3, 3), "ui8"))],
            "axis = 1, block_size = 2, output_dtype = ui8",
            [ty((3, 5), "ui8")],
            lambda g: [
                f32(g, 3, 5, lo=-2, hi=2),
                g.uniform(0.01, 0.03, (3, 3)).astype(np.float32),
                g.integers(100, 150, (3, 3)).astype(np.uint8),
            ],
            _quantize_blocked,
        ),
    ],
    "quant.dequantize_linear": [
        simple(
            "quant.dequantize_linear",
            [("x", ty((2, 3, 4), "ui8")), ("s", ty((3,))), ("z", ty((3,), "ui8"))],
            "axis = 1, block_size = 0, output_dtype = f32",
            [ty((2, 3, 4))],
            lambda g: [
                g.integers(0, 256, (2, 3, 4)).astype(np.uint8),
                f32(g, 3, lo=0.01, hi=0.1),
                g.integers(0, 256, 3).astype(np.uint8),
            ],
            _dequantize_per_axis,
        ),
        simple(
            "quant.dequantize_linear",
            [("x", ty((5, 2), "i8")), ("s", ty((2, 2))), ("z", ty((2, 2), "i8"))],
            "axis = 0, block_size = 3, output_dtype = f32",
            [ty((5, 2))],
            lambda g: [
                g.integers(-128, 128, (5, 2)).astype(np.int8),
                f32(g, 2, 2, lo=0.01, hi=0.1),
                g.integers(-5, 5, (2, 2)).astype(np.int8),
            ],
            _dequantize_blocked,
        ),
    ],
}
