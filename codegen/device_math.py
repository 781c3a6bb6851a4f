"""Device helpers: jitted functions that a generated kernel's source carries when its code calls
them (``lowering.finish_source`` appends each one used). Polynomial forms of functions Triton has no
portable version of: libdevice's run on the GPU only, and the CPU interpreter has none."""

from __future__ import annotations

from tritium.codegen.float_math import fmax, fmin

# GELU, x * Phi(x) (Phi: the normal CDF, 0.5 * (1 + erf(x / sqrt(2)))), as Phi(-|x|) = 2^p(|x|) with
# p a polynomial fitted to log2 Phi(-a) (mpmath's normal CDF; iteratively reweighted least squares
# towards the minimax fit, coefficients rounded to float32), highest degree first. One fit per
# result type, each as short as that type's precision allows:
# - float32: degree 11 on [0, 7.75]; relative error of Phi under 3e-6 for x > -5 (torch's float32
#   1 + erf cancels to 100% there), under 1e-5 down to -7.75 (values of 5e-14);
# - float16: degree 7 on [0, 6], relative error under 7e-6, a 70th of a float16 ulp. Past 6 the
#   polynomial keeps falling (p(6) = -29.9, monotone, -inf once float32 overflows: checked on a dense
#   grid up to 3.4e38), so |x| 2^p(|x|) stays under 6e-9 for every x < -6 and rounds to -0.0 in
#   float16 like the true value. This fit needs no clamp of |x| and no select for x < -6: 12 SASS
#   instructions an element where the clamped form takes 15 (sm_90, Triton 3.6);
# - bfloat16 (float32's range): degree 7 on [0, 7.75], relative error under 3e-5, a 70th of its ulp.
# (Errors of float32 Horner steps without FMA, the worse case; tests/codegen/test_pointwise.py.)
# Below the fitted range the result is x * 0: -0.0, and NaN for -inf, as x * Phi(x) gives; NaN stays NaN.
# (float16's unclamped form gives the same: 2^-inf = 0 at x = -inf.)
_GELU_FITS = {
    "gelu_erf": (
        7.75,
        (
            6.360153514961553e-10,
            -2.989884961834832e-08,
            6.119607292021101e-07,
            -7.0583864726359025e-06,
            4.83219264424406e-05,
            -0.00016517285257577896,
            -0.00027843788848258555,
            0.007349608466029167,
            -0.05277002230286598,
            -0.4590863883495331,
            -1.1511253118515015,
            -0.999999463558197,
        ),
    ),
    "gelu_erf_f16": (
        6.0,
        (
            -1.8348215462538064e-06,
            6.159848271636292e-05,
            -0.0009305262356065214,
            0.008507895283401012,
            -0.053960077464580536,
            -0.4584643840789795,
            -1.1512510776519775,
            -0.9999952912330627,
        ),
    ),
    "gelu_erf_bf16": (
        7.75,
        (
            -1.3412085309028043e-06,
            5.0215119699714705e-05,
            -0.0008273319690488279,
            0.008043414913117886,
            -0.05288352072238922,
            -0.45966196060180664,
            -1.1507407426834106,
            -1.0000336170196533,
        ),
    ),
}
GELU_HELPERS = {"f32": "gelu_erf", "f16": "gelu_erf_f16", "bf16": "gelu_erf_bf16"}


_UNCLAMPED = {"gelu_erf_f16"}  # fits whose polynomial is used past its interval as it stands


def _gelu_helper(name: str) -> str:
    bound, coeffs = _GELU_FITS[name]
    clamped = name not in _UNCLAMPED
    return "\n".join(
        [
            "@triton.jit",
            f"def {name}(x):",
            f"    # GELU by Phi(-|x|) = 2^p(|x|), p of degree {len(coeffs) - 1} on [0, {bound}] (device_math.py)",
            f"    a = tl.minimum(tl.abs(x), {bound})"
            if clamped
            else "    a = tl.abs(x)  # (p falls on past the interval)",
            f"    p = {coeffs[0]!r}",
            *(f"    p = p * a {'-' if c < 0 else '+'} {abs(c)!r}" for c in coeffs[1:]),
            "    e = tl.math.exp2(p)",
            f"    return x * tl.where(x < -{bound}, 0.0, tl.where(x >= 0, 1.0 - e, e))"
            if clamped
            else "    return x * tl.where(x >= 0, 1.0 - e, e)",
        ]
    )


# The tanh GELU: 0.5 x (1 + tanh(u)) = x sigmoid(2u) = x / y with y = 1 + 2^(-2u / ln 2) >= 1: one exp,
# no cancellation near 0, and -2u / ln 2 = x (c1 + c2 x^2) (c1 = -2 sqrt(2 / pi) / ln 2, c2 = 0.044715 c1).
# x / y as x * rsqrt(y * y): the reciprocal square root is one instruction (MUFU.RSQ) where ``/``
# (div.full.f32) adds a range check and two predicated rescales: 9 SASS instructions an element
# instead of 11 (sm_90). Where y * y overflows (y > 2^64, u < -22) the result is x * 0, as the tanh
# form's 1 + tanh(u) is 0 there in float32; x = -inf gives NaN and NaN stays NaN, as in the formula.
def gelu_tanh_denominator(x: str) -> str:
    """y = 1 + 2^(-2u / ln 2) of the tanh GELU x / y, for the operand expression ``x``."""
    return f"(1.0 + tl.math.exp2({x} * (-2.302208198144325 - 0.1029432395800235 * {x} * {x})))"


_GELU_TANH = f"""@triton.jit
def gelu_tanh(x):
    # GELU, tanh form: x / y as x * rsqrt(y * y), y = 1 + exp(-2u) >= 1 (device_math.py)
    y = {gelu_tanh_denominator("x")}
    return x * tl.math.rsqrt(y * y)
"""

HELPERS = {name: _gelu_helper(name) + "\n" for name in _GELU_FITS} | {"gelu_tanh": _GELU_TANH}


# Inverse trigonometric and hyperbolic functions (Triton has no portable ones: libdevice's are GPU
# only, and the interpreter has none): Cephes' single-precision reductions and minimax polynomials
# (asinf, atanf, asinhf, acoshf, atanhf; relative error about 2e-7 on their intervals).
_ASIN_P = "((((4.2163199048e-2 * z + 2.4181311049e-2) * z + 4.5470025998e-2) * z + 7.4953002686e-2) * z + 1.6666752422e-1)"
_INVERSE = {
    "asin_f32": [
        "    # asin: |x| <= 0.5 by the odd polynomial, else pi/2 - 2 asin(sqrt((1 - |x|) / 2))",
        "    a = tl.abs(x)",
        "    z = tl.where(a > 0.5, 0.5 * (1.0 - a), a * a)",
        "    s = tl.where(a > 0.5, tl.sqrt(z), a)",
        f"    p = {_ASIN_P} * z * s + s",
        "    r = tl.where(a > 0.5, 1.5707963267948966 - 2.0 * p, p)",
        "    r = tl.where(a > 1.0, float('nan'), r)",
        "    return tl.where(x < 0, -r, tl.where(x == 0, x, r))  # (odd: -0 stays -0)",
    ],
    "acos_f32": [
        "    # acos: pi/2 - asin(x) for |x| <= 0.5, else 2 asin(sqrt((1 - |x|) / 2)) (from pi if x < 0)",
        "    a = tl.abs(x)",
        "    z = tl.where(a > 0.5, 0.5 * (1.0 - a), x * x)",
        "    s = tl.where(a > 0.5, tl.sqrt(z), x)",
        f"    p = {_ASIN_P} * z * s + s",
        "    r = tl.where(a > 0.5, tl.where(x < 0, 3.141592653589793 - 2.0 * p, 2.0 * p), 1.5707963267948966 - p)",
        "    return tl.where(a > 1.0, float('nan'), r)",
    ],
    "atan_f32": [
        "    # atan: reduced to |t| <= tan(pi/8) by atan(a) = pi/4 + atan((a - 1) / (a + 1)), pi/2 - atan(1 / a)",
        "    a = tl.abs(x)",
        "    big = a > 2.414213562373095",
        "    mid = a > 0.41421356237309503",
        "    y0 = tl.where(big, 1.5707963267948966, tl.where(mid, 0.7853981633974483, 0.0))",
        "    t = tl.where(big, -1.0 / a, tl.where(mid, (a - 1.0) / (a + 1.0), a))",
        "    z = t * t",
        "    p = (((8.05374449538e-2 * z - 1.38776856032e-1) * z + 1.99777106478e-1) * z - 3.33329491539e-1) * z * t + t",
        "    r = y0 + p",
        "    return tl.where(x < 0, -r, tl.where(x == 0, x, r))  # (odd: -0 stays -0)",
    ],
    "asinh_f32": [
        "    # asinh: an odd polynomial below 0.5, log(a + sqrt(a^2 + 1)), and log(a) + log(2) past 1500",
        "    a = tl.abs(x)",
        "    z = a * a",
        "    p = (((2.0122003309e-2 * z - 4.2699340972e-2) * z + 7.4847586088e-2) * z - 1.6666288134e-1) * z * a + a",
        "    q = tl.where(a > 1500.0, tl.log(a) + 0.6931471805599453, tl.log(a + tl.sqrt(z + 1.0)))",
        "    r = tl.where(a < 0.5, p, q)",
        "    return tl.where(x < 0, -r, tl.where(x == 0, x, r))  # (odd: -0 stays -0)",
    ],
    "acosh_f32": [
        "    # acosh: sqrt(x - 1) times a polynomial below 1.5, log(x + sqrt(x^2 - 1)), log(x) + log(2) past 1500",
        "    z = x - 1.0",
        "    p = ((((1.7596881071e-3 * z - 7.5272886713e-3) * z + 2.6454905019e-2) * z - 1.1784741703e-1) * z"
        " + 1.4142135263) * tl.sqrt(tl.maximum(z, 0.0))",
        "    q = tl.where(x > 1500.0, tl.log(x) + 0.6931471805599453, tl.log(x + tl.sqrt(z * (x + 1.0))))",
        "    r = tl.where(z < 0.5, p, q)",
        "    return tl.where(x < 1.0, float('nan'), r)",
    ],
    "atanh_f32": [
        "    # atanh: an odd polynomial below 0.5, else log((1 + a) / (1 - a)) / 2 (inf at 1, NaN past it)",
        "    a = tl.abs(x)",
        "    z = a * a",
        "    p = ((((1.81740078349e-1 * z + 8.24370301058e-2) * z + 1.46691431730e-1) * z + 1.99782164500e-1) * z"
        " + 3.33337300303e-1) * z * a + a",
        "    q = 0.5 * tl.log((1.0 + a) / (1.0 - a))",
        "    r = tl.where(a < 0.5, p, tl.where(a > 1.0, float('nan'), q))",
        "    return tl.where(x < 0, -r, tl.where(x == 0, x, r))  # (odd: -0 stays -0)",
    ],
}
HELPERS.update(
    {name: "\n".join(["@triton.jit", f"def {name}(x):", *body]) + "\n" for name, body in _INVERSE.items()}
)


# Reductions' combine functions that keep NaN (numpy's max and min do; Triton's tl.max and tl.min
# drop it): ``tl.reduce(x, axis, max_with_nan)``.
HELPERS.update(
    {
        f"{fn}_with_nan": "\n".join(
            [
                "@triton.jit",
                f"def {fn}_with_nan(a, b):",
                f"    return {combine('a', 'b')}",
            ]
        )
        + "\n"
        for fn, combine in (("max", fmax), ("min", fmin))
    }
)
