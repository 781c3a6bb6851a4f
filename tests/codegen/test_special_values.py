"""Generated elementwise kernels on IEEE special values: every op case of tests/ir/op_cases whose
kernel is generated runs with +-0, +-inf, NaN, 65504, 1e-8, +-0.5 and +-100 in every float input
(over a few trials), and must put NaNs, infinities and signed zeros where the reference does, with
the finite values close. It found relu, max, min, clip, sign, hard_sigmoid and celu dropping NaN
(Triton's maximum and minimum ignore a NaN operand unless told otherwise), GELU giving 0 for -inf,
sinh(1e-8) = 0, softplus 0.4% off at -12, and (-1) ** inf = NaN where C99's pow gives 1."""

from __future__ import annotations

import numpy as np
import pytest

import tritium as tr
from tests.codegen.test_coverage import ELEMENTWISE_CASES
from tests.special_values import laced, special_mismatch, trials
from tritium.ir import parse_ir

ZERO_SIGN_DIFFERS = {
    "nn.mod": "0.0 mod -inf: numpy gives -0.0 (the divisor's sign), the kernel +0.0",
    **dict.fromkeys(
        ["nn.max", "nn.min", "nn.relu", "nn.clip", "nn.hard_sigmoid", "nn.hard_swish", "nn.celu"],
        "max(-0.0, +0.0): numpy gives either zero by the operands' order, the GPU's max.NaN +0.0",
    ),
}


def _float_inputs(text: str) -> bool:
    return any(a.type.dtype.is_float for a in parse_ir(text).functions[0].args)


CASES = [(n, i, c) for n, i, c in ELEMENTWISE_CASES if "xstring>" not in c.ir and _float_inputs(c.ir)]


def compare(want: np.ndarray, got: np.ndarray, signed_zeros: bool) -> str | None:
    """What differs between the reference's ``want`` and the kernel's ``got`` (the first place), or
    None: special values as ``special_mismatch``, finite values within 1e-3 (relative, past 1e-5)."""
    problem, finite = special_mismatch(want, got, signed_zeros)
    if problem or not finite.any():
        return problem
    w, g = want.astype(np.float64)[finite], got.astype(np.float64)[finite]
    bad = np.abs(w - g) > 1e-3 * (np.abs(w) + 1e-5)
    if bad.any():
        at = tuple(int(i) for i in np.argwhere(finite)[np.argmax(bad)])
        return f"finite values differ at {at}: want {want[at]!r}, got {got[at]!r}"
    return None


@pytest.mark.parametrize("name,index,case", CASES, ids=[f"{n}-{i}" for n, i, _ in CASES])
def test_generated_kernels_keep_special_values(name: str, index: int, case, rng: np.random.Generator) -> None:
    base = case.inputs(rng)
    floats = [x.size for x in base if np.asarray(x).dtype.kind == "f" and np.asarray(x).size]
    assert floats, "a float input in the signature, but none among the case's inputs"
    engine = tr.compile(parse_ir(case.ir))
    reference = tr.compile(parse_ir(case.ir), backend="reference")
    for trial in range(trials(floats)):
        inputs = [laced(np.asarray(x), rng, trial) for x in base]
        with np.errstate(all="ignore"):
            want, got = reference(inputs), engine(inputs)
        for k in want:
            problem = compare(np.asarray(want[k]), np.asarray(got[k]), name not in ZERO_SIGN_DIFFERS)
            assert problem is None, (
                f"{name} case {index}, output {k}, trial {trial}: {problem}; inputs {inputs}"
            )


REDUCTIONS = {
    "row max": ("nn.reduce_max", "2x37", [1], "2x1"),
    "row min": ("nn.reduce_min", "2x37", [1], "2x1"),
    "column max": ("nn.reduce_max", "37x5", [0], "1x5"),
    "column min": ("nn.reduce_min", "37x5", [0], "1x5"),
}


@pytest.mark.parametrize("label", list(REDUCTIONS))
def test_max_and_min_reductions_keep_nan(label: str, rng: np.random.Generator) -> None:
    """A NaN in a reduced row or column makes its max and min NaN (numpy's, onnxruntime's); an
    infinity wins over numbers."""
    op, shape, axes, out = REDUCTIONS[label]
    text = f"""func.func @main(%x: tensor<{shape}xf32>) -> tensor<{out}xf32> attributes {{input_names = ["x"], output_names = ["y"]}} {{
  %ax = nn.constant dense<{axes}> : tensor<1xi64>
  %y = {op} %x, %ax : (tensor<{shape}xf32>, tensor<1xi64>) -> tensor<{out}xf32>
  func.return %y : tensor<{out}xf32>
}}"""
    engine = tr.compile(parse_ir(text))
    assert engine.host_steps({"x": tuple(int(d) for d in shape.split("x"))}) == []
    x = rng.standard_normal([int(d) for d in shape.split("x")]).astype(np.float32)
    flat = x.reshape(-1) if axes == [1] else x.T.reshape(-1)  # (the reduced lines, one after another)
    line = 37
    flat[5] = np.nan  # line 0: a NaN
    flat[line + 3] = np.inf  # line 1: +inf
    flat[line + 7] = -np.inf  # and -inf
    if axes == [0]:
        x[:] = flat.reshape(x.shape[1], x.shape[0]).T
    want = tr.compile(parse_ir(text), backend="reference")({"x": x})["y"].reshape(-1)
    got = engine({"x": x})["y"].reshape(-1)
    assert np.isnan(want[0]) and np.isnan(got[0])
    assert np.array_equal(want, got, equal_nan=True)


def test_max_pooling_keeps_nan() -> None:
    """A window holding NaN pools to NaN wherever the NaN sits (as max and reduce_max keep it, and
    torch's max_pool2d; onnxruntime's MaxPool keeps or drops it by its place in the window)."""
    text = """func.func @main(%x: tensor<1x2x4x4xf32>) -> tensor<1x2x2x2xf32> attributes {input_names = ["x"], output_names = ["y"]} {
  %y, %i = nn.max_pool %x {dilations = [1, 1], kernel_shape = [2, 2], pads = [0, 0, 0, 0], strides = [2, 2]} : (tensor<1x2x4x4xf32>) -> (tensor<1x2x2x2xf32>, tensor<1x2x2x2xi64>)
  func.return %y : tensor<1x2x2x2xf32>
}"""
    engine = tr.compile(parse_ir(text))
    assert engine.host_steps({"x": (1, 2, 4, 4)}) == []
    x = np.arange(32, dtype=np.float32).reshape(1, 2, 4, 4) - 16
    x[0, 0, 0, 0] = np.nan  # first in channel 0's first window
    x[0, 0, 1, 3] = np.nan  # last in its second window
    x[0, 1, 3, 3] = np.inf  # the last window of channel 1
    want = tr.compile(parse_ir(text), backend="reference")({"x": x})["y"]
    got = engine({"x": x})["y"]
    assert np.isnan(got[0, 0, 0, 0]) and np.isnan(got[0, 0, 0, 1]) and got[0, 1, 1, 1] == np.inf
    assert np.array_equal(want, got, equal_nan=True)


def run_one(op_text: str, dtype: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The reference's and the generated kernel's result of ``%y = <op_text>`` on ``x``."""
    t = f"tensor<{x.size}x{dtype}>"
    text = f"""func.func @main(%x: {t}) -> {t} attributes {{input_names = ["x"], output_names = ["y"]}} {{
  {op_text.format(t=t)}
  func.return %y : {t}
}}"""
    with np.errstate(all="ignore"):
        want = tr.compile(parse_ir(text), backend="reference")({"x": x})["y"]
        got = tr.compile(parse_ir(text))({"x": x})["y"]
    return np.asarray(want), np.asarray(got)


SMALL = {
    "sinh": "%y = nn.sinh %x : {t}",
    "elu": "%y = nn.elu %x {{alpha = 1.0}} : {t}",
    "selu": "%y = nn.selu %x : {t}",
    "celu": "%y = nn.celu %x {{alpha = 1.0}} : {t}",
    "softplus": "%y = nn.softplus %x : {t}",
}


@pytest.mark.parametrize("dtype", ["f32", "f64"])
@pytest.mark.parametrize("name", list(SMALL))
def test_precision_near_zero_and_past_the_switch(name: str, dtype: str) -> None:
    """Relative error within a few ulps of the type where the textbook formulas cancel: tiny
    arguments, the places where a rule switches form, and softplus's log(1 + small)."""
    np_dt = np.float32 if dtype == "f32" else np.float64
    x = np.concatenate([np.geomspace(1e-30, 2.0, 200), -np.geomspace(1e-30, 20.0, 200)]).astype(np_dt)
    want, got = run_one(SMALL[name], dtype, x)
    ulp = float(np.finfo(np_dt).eps)
    rel = np.abs(got.astype(np.float64) - want.astype(np.float64)) / np.maximum(
        np.abs(want.astype(np.float64)), 1e-300
    )
    assert rel.max() < 16 * ulp, f"{name} {dtype}: {rel.max() / ulp:.1f} ulps at x = {x[rel.argmax()]!r}"


POW_BASES = np.array(
    [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 1e-8, -1e-8, 100.0, -100.0]
)


@pytest.mark.parametrize(
    "exponent", ["-1.0", "-2.0", "3.0", "5.0", "0.5", "1.5", "-0.5", "2.5", "0.0", "inf", "-inf", "nan"]
)
def test_pow_of_a_constant_exponent_on_special_bases(exponent: str) -> None:
    """A scalar exponent takes the rule's constant path: C99's pow (numpy's) on every special base."""
    op = f"%e = nn.constant dense<{exponent}> : tensor<f32>\n  %y = nn.pow %x, %e : ({{t}}, tensor<f32>) -> {{t}}"
    want, got = run_one(op, "f32", POW_BASES.astype(np.float32))
    problem = compare(want, got, signed_zeros=True)
    assert problem is None, f"x ** {exponent}: {problem}"


def test_attention_keeps_nan_and_zeroes_only_empty_rows() -> None:
    """A NaN in q or in the mask gives NaN rows, as the reference's; a row whose keys are all masked
    still gives zeros."""
    b, h, s, d = 1, 2, 5, 4
    t4, tm = f"tensor<{b}x{h}x{s}x{d}xf32>", f"tensor<{b}x1x1x{s}xf32>"
    text = f"""func.func @main(%q: {t4}, %k: {t4}, %v: {t4}, %m: {tm}) -> {t4} attributes {{input_names = ["q", "k", "v", "m"], output_names = ["y"]}} {{
  %y, %pk, %pv, %qk = nn.attention %q, %k, %v, %m {{is_causal = false}} : ({t4}, {t4}, {t4}, {tm}) -> ({t4}, {t4}, {t4}, tensor<{b}x{h}x{s}x{s}xf32>)
  func.return %y : {t4}
}}"""
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((b, h, s, d)).astype(np.float32) for _ in range(3))
    q[0, 0, 1, 2] = np.nan  # query row 1 of head 0
    m = np.zeros((b, 1, 1, s), np.float32)
    inputs = {"q": q, "k": k, "v": v, "m": m}
    with np.errstate(all="ignore"):
        want = tr.compile(parse_ir(text), backend="reference")(inputs)["y"]
        got = tr.compile(parse_ir(text))(inputs)["y"]
    assert np.isnan(got[0, 0, 1]).all() and not np.isnan(got[0, 0, 0]).any()
    assert np.allclose(want, got, atol=1e-5, equal_nan=True)
    m[0, 0, 0, 3] = np.nan  # a NaN mask entry: every query sees that key
    with np.errstate(all="ignore"):
        want = tr.compile(parse_ir(text), backend="reference")(inputs)["y"]
        got = tr.compile(parse_ir(text))(inputs)["y"]
    assert np.isnan(got).all() and np.isnan(want).all()
    m[:] = -np.inf  # every key masked: zeros
    q[0, 0, 1, 2] = 0.5
    got = tr.compile(parse_ir(text))(inputs)["y"]
    assert np.array_equal(got, np.zeros_like(got))


def test_log_sum_exp_rows_with_infinities() -> None:
    """log(sum(exp(x))) over a row: +inf for a row holding +inf, -inf for a row of -inf, NaN for a
    row holding NaN, as the reference."""
    x = np.array(
        [[1.0, np.inf, 2.0], [-np.inf, -np.inf, -np.inf], [1.0, np.nan, 2.0], [1.0, 2.0, 3.0]], np.float32
    )
    text = """func.func @main(%x: tensor<4x3xf32>) -> tensor<4x1xf32> attributes {input_names = ["x"], output_names = ["y"]} {
  %ax = nn.constant dense<[1]> : tensor<1xi64>
  %y = nn.reduce_log_sum_exp %x, %ax : (tensor<4x3xf32>, tensor<1xi64>) -> tensor<4x1xf32>
  func.return %y : tensor<4x1xf32>
}"""
    engine = tr.compile(parse_ir(text))
    assert engine.host_steps({"x": (4, 3)}) == []
    with np.errstate(all="ignore"):
        want = tr.compile(parse_ir(text), backend="reference")({"x": x})["y"].reshape(-1)
        got = engine({"x": x})["y"].reshape(-1)
    assert got[0] == np.inf and got[1] == -np.inf and np.isnan(got[2])
    assert np.allclose(want, got, equal_nan=True)
