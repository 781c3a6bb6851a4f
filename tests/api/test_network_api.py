"""The TensorRT-style network-definition API: every add_* layer against numpy/torch, parameter
changes after add_*, and the errors a user sees."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import tritium as tr
from tritium.ir.printer import print_ir

LOGGER = tr.Logger(tr.Logger.ERROR)


def run(
    build: Callable[[tr.INetworkDefinition], list[tr.ITensor]],
    inputs: dict[str, np.ndarray],
    backend: str = "reference",
) -> list[np.ndarray]:
    """Build a network with ``build`` (given inputs of the arrays' shapes and dtypes), mark what it
    returns as outputs and run it."""
    net = tr.Builder(LOGGER).create_network()
    for n, a in inputs.items():
        net.add_input(n, tr.DataType.of(tr.ir.dtypes.DType.from_numpy(a.dtype)), a.shape)
    outs = build(net)
    for i, t in enumerate(outs):
        t.name = f"out{i}"
        net.mark_output(t)
    engine = tr.compile(net.module, backend=backend)
    result = engine(inputs)
    return [np.asarray(result[f"out{i}"]) for i in range(len(outs))]


def T(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


def f32(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize(
    "mode,stride,dilation,groups",
    [
        (tr.PaddingMode.EXPLICIT_ROUND_DOWN, (1, 1), (1, 1), 1),
        (tr.PaddingMode.SAME_UPPER, (2, 2), (1, 1), 2),
        (tr.PaddingMode.SAME_LOWER, (1, 1), (2, 2), 1),
    ],
)
def test_convolution(
    rng: np.random.Generator, mode: tr.PaddingMode, stride: tuple, dilation: tuple, groups: int
) -> None:
    x = f32(rng, 2, 4, 9, 9)
    w = f32(rng, 6, 4 // groups, 3, 3)
    b = f32(rng, 6)

    def build(net: tr.INetworkDefinition) -> list[tr.ITensor]:
        conv = net.add_convolution_nd(net.get_input(0), 6, (3, 3), tr.Weights(w.reshape(-1)), b)
        conv.stride_nd, conv.dilation_nd, conv.num_groups = stride, dilation, groups
        if mode == tr.PaddingMode.EXPLICIT_ROUND_DOWN:
            conv.padding_nd = (1, 1)
        else:
            conv.padding_mode = mode
        return [conv.get_output(0)]

    (y,) = run(build, {"x": x})
    if mode == tr.PaddingMode.EXPLICIT_ROUND_DOWN:
        want = F.conv2d(T(x), T(w), T(b), stride, 1, dilation, groups)
    else:
        eff = (3 - 1) * dilation[0] + 1
        out = -(-9 // stride[0])
        total = max((out - 1) * stride[0] + eff - 9, 0)
        lo, hi = (
            (total // 2, total - total // 2)
            if mode == tr.PaddingMode.SAME_UPPER
            else (total - total // 2, total // 2)
        )
        want = F.conv2d(F.pad(T(x), (lo, hi, lo, hi)), T(w), T(b), stride, 0, dilation, groups)
    np.testing.assert_allclose(y, want.numpy(), rtol=1e-4, atol=1e-4)


def test_deconvolution_and_pooling(rng: np.random.Generator) -> None:
    x = f32(rng, 1, 3, 6, 6)
    w = f32(rng, 3, 5, 2, 2)

    def build(net: tr.INetworkDefinition) -> list[tr.ITensor]:
        d = net.add_deconvolution_nd(net.get_input(0), 5, (2, 2), w, None)
        d.stride_nd = (2, 2)
        mx = net.add_pooling_nd(d.get_output(0), tr.PoolingType.MAX, (3, 3))
        mx.stride_nd, mx.padding_nd = (2, 2), (1, 1)
        av = net.add_pooling_nd(d.get_output(0), tr.PoolingType.AVERAGE, (2, 2))
        av.padding_nd = (1, 1)
        bl = net.add_pooling_nd(d.get_output(0), tr.PoolingType.MAX_AVERAGE_BLEND, (2, 2))
        bl.blend_factor = 0.25
        return [mx.get_output(0), av.get_output(0), bl.get_output(0)]

    mx, av, bl = run(build, {"x": x})
    d = F.conv_transpose2d(T(x), T(w), stride=2)
    np.testing.assert_allclose(mx, F.max_pool2d(d, 3, 2, 1).numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        av, F.avg_pool2d(d, 2, 2, 1, count_include_pad=False).numpy(), rtol=1e-5, atol=1e-5
    )
    blend = 0.75 * F.max_pool2d(d, 2) + 0.25 * F.avg_pool2d(d, 2)  # TensorRT: (1 - b) * max + b * avg
    np.testing.assert_allclose(bl, blend.numpy(), rtol=1e-5, atol=1e-5)


def test_matrix_multiply_elementwise_and_unary(rng: np.random.Generator) -> None:
    a, b = f32(rng, 2, 5, 3), f32(rng, 2, 4, 3)
    p, q = np.abs(f32(rng, 4, 5)) + 0.5, np.abs(f32(rng, 4, 5)) + 0.5
    E = tr.ElementWiseOperation
    ops = {
        E.SUM: p + q, E.PROD: p * q, E.MAX: np.maximum(p, q), E.MIN: np.minimum(p, q), E.SUB: p - q,
        E.DIV: p / q, E.POW: p**q, E.FLOOR_DIV: np.floor(p / q), E.EQUAL: p == q, E.GREATER: p > q, E.LESS: p < q,
    }  # fmt: skip
    U = tr.UnaryOperation
    unary = {U.EXP: np.exp(p), U.LOG: np.log(p), U.SQRT: np.sqrt(p), U.RECIP: 1 / p, U.NEG: -p, U.FLOOR: np.floor(p),
             U.SIN: np.sin(p), U.ATAN: np.arctan(p), U.SIGN: np.sign(p - 1), U.ISNAN: np.isnan(p)}  # fmt: skip

    def build(net: tr.INetworkDefinition) -> list[tr.ITensor]:
        A, B, P, Q = (net.get_input(i) for i in range(4))
        mm = net.add_matrix_multiply(A, tr.MatrixOperation.NONE, B, tr.MatrixOperation.TRANSPOSE)
        outs = [mm.get_output(0)]
        outs += [net.add_elementwise(P, Q, op).get_output(0) for op in ops]
        for op in unary:
            src = P
            if op == U.SIGN:
                one = net.add_constant((1, 1), np.ones((1, 1), np.float32)).get_output(0)
                src = net.add_elementwise(P, one, E.SUB).get_output(0)
            outs.append(net.add_unary(src, op).get_output(0))
        return outs

    outs = run(build, {"a": a, "b": b, "p": p, "q": q})
    np.testing.assert_allclose(outs[0], a @ b.transpose(0, 2, 1), rtol=1e-5, atol=1e-6)
    for got, want in zip(outs[1:], [*ops.values(), *unary.values()]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_integer_floor_div_rounds_down(rng: np.random.Generator) -> None:
    a = rng.integers(-20, 20, (3, 7)).astype(np.int32)
    b = rng.choice([-3, -2, 2, 5], (3, 7)).astype(np.int32)
    (y,) = run(
        lambda net: [
            net.add_elementwise(
                net.get_input(0), net.get_input(1), tr.ElementWiseOperation.FLOOR_DIV
            ).get_output(0)
        ],
        {"a": a, "b": b},
    )
    np.testing.assert_array_equal(y, a // b)


def test_activations(rng: np.random.Generator) -> None:
    x = f32(rng, 3, 8)
    A = tr.ActivationType
    xt = T(x)
    cases = [
        (A.RELU, 0, 0, F.relu(xt)), (A.SIGMOID, 0, 0, torch.sigmoid(xt)), (A.TANH, 0, 0, torch.tanh(xt)),
        (A.LEAKY_RELU, 0.2, 0, F.leaky_relu(xt, 0.2)), (A.ELU, 1.5, 0, F.elu(xt, 1.5)),
        (A.SELU, 1.6732632, 1.0507010, F.selu(xt)), (A.SOFTSIGN, 0, 0, F.softsign(xt)),
        (A.SOFTPLUS, 2.0, 3.0, 2.0 * F.softplus(3.0 * xt)), (A.CLIP, -0.5, 0.7, xt.clamp(-0.5, 0.7)),
        (A.HARD_SIGMOID, 0.3, 0.4, (0.3 * xt + 0.4).clamp(0, 1)), (A.SCALED_TANH, 1.7, 0.6, 1.7 * torch.tanh(0.6 * xt)),
        (A.THRESHOLDED_RELU, 0.3, 0, torch.where(xt > 0.3, xt, 0)), (A.GELU_ERF, 0, 0, F.gelu(xt)),
        (A.GELU_TANH, 0, 0, F.gelu(xt, approximate="tanh")),
    ]  # fmt: skip

    def build(net: tr.INetworkDefinition) -> list[tr.ITensor]:
        outs = []
        for kind, alpha, beta, _ in cases:
            layer = net.add_activation(net.get_input(0), kind)
            layer.alpha, layer.beta = alpha, beta
            outs.append(layer.get_output(0))
        return outs

    for got, (kind, *_, want) in zip(run(build, {"x": x}), cases):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-6, err_msg=kind.name)


def test_reduce_softmax_concat_shuffle_slice(rng: np.random.Generator) -> None:
    x = f32(rng, 2, 3, 4, 5)

    def build(net: tr.INetworkDefinition) -> list[tr.ITensor]:
        X = net.get_input(0)
        red = net.add_reduce(X, tr.ReduceOperation.AVG, 0b1010, keep_dims=False)
        smx = net.add_softmax(X)  # default axis: rank - 3 = 1
        cat = net.add_concatenation([X, X])  # default axis 1
        sh = net.add_shuffle(X)
        sh.first_transpose = (0, 2, 1, 3)
        sh.reshape_dims = (0, 0, -1)
        sh.second_transpose = (2, 0, 1)
        sl = net.add_slice(X, (1, 0, 3, 0), (1, 2, 2, 3), (1, 2, -1, 2))
        return [red.get_output(0), smx.get_output(0), cat.get_output(0), sh.get_output(0), sl.get_output(0)]

    red, smx, cat, sh, sl = run(build, {"x": x})
    np.testing.assert_allclose(red, x.mean(axis=(1, 3)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(smx, torch.softmax(T(x), 1).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(cat, np.concatenate([x, x], 1))
    np.testing.assert_array_equal(sh, x.transpose(0, 2, 1, 3).reshape(2, 4, 15).transpose(2, 0, 1))
    np.testing.assert_array_equal(sl, x[1:2, 0:4:2, 3:1:-1, 0:5:2])


def test_gather_select_scale_constant_cast_identity_padding(rng: np.random.Generator) -> None:
    x = f32(rng, 2, 3, 4, 4)
    idx = np.array([[2, 0], [1, 1]], np.int32)
    shift, scale, power = (
        np.array([0.5, 1.0, 2.0], np.float32),
        np.array([1.0, 2.0, 0.5], np.float32),
        np.float32(2.0),
    )

    def build(net: tr.INetworkDefinition) -> list[tr.ITensor]:
        X, I = net.get_input(0), net.get_input(1)
        g = net.add_gather(X, I, axis=1)
        cond = net.add_elementwise(
            X,
            net.add_constant((1, 1, 1, 1), np.zeros(1, np.float32)).get_output(0),
            tr.ElementWiseOperation.GREATER,
        )
        neg = net.add_unary(X, tr.UnaryOperation.NEG)
        sel = net.add_select(cond.get_output(0), X, neg.get_output(0))
        sc = net.add_scale(X, tr.ScaleMode.CHANNEL, shift, scale, None)
        sp = net.add_scale(X, tr.ScaleMode.UNIFORM, None, None, np.array([power]))
        cast = net.add_cast(X, tr.int32)
        ident = net.add_identity(X)
        ident.set_output_type(0, tr.float16)
        pad = net.add_padding_nd(X, (1, 0), (0, 2))
        return [
            g.get_output(0),
            sel.get_output(0),
            sc.get_output(0),
            sp.get_output(0),
            cast.get_output(0),
            ident.get_output(0),
            pad.get_output(0),
        ]

    g, sel, sc, sp, cast, ident, pad = run(build, {"x": x, "i": idx})
    np.testing.assert_array_equal(g, x[:, idx])
    np.testing.assert_array_equal(sel, np.abs(x))
    np.testing.assert_allclose(sc, x * scale.reshape(3, 1, 1) + shift.reshape(3, 1, 1), rtol=1e-6)
    np.testing.assert_allclose(sp, x**2, rtol=1e-6)
    np.testing.assert_array_equal(cast, x.astype(np.int32))
    assert ident.dtype == np.float16
    np.testing.assert_array_equal(ident, x.astype(np.float16))
    np.testing.assert_array_equal(pad, np.pad(x, ((0, 0), (0, 0), (1, 0), (0, 2))))


def test_resize_normalization_topk_shape_einsum_prelu_lrn(rng: np.random.Generator) -> None:
    x = f32(rng, 2, 4, 3, 5)
    gamma, beta = f32(rng, 1, 1, 1, 5), f32(rng, 1, 1, 1, 5)
    cg, cb = f32(rng, 1, 4, 1, 1), f32(rng, 1, 4, 1, 1)
    slope = np.abs(f32(rng, 1, 4, 1, 1))

    def build(net: tr.INetworkDefinition) -> list[tr.ITensor]:
        X = net.get_input(0)
        const = lambda a: net.add_constant(a.shape, a).get_output(0)  # noqa: E731
        rs = net.add_resize(X)
        rs.scales = (1, 1, 2, 2)
        ln = net.add_normalization(X, const(gamma), const(beta), 1 << 3)
        ln.epsilon = 1e-3
        gn = net.add_normalization(X, const(cg), const(cb), 0b1100)
        gn.num_groups = 2
        tk = net.add_topk(X, tr.TopKOperation.MAX, 2, 1 << 3)
        shp = net.add_shape(X)
        es = net.add_einsum([X, X], "nchw,nchv->nwv")
        pr = net.add_parametric_relu(X, const(slope))
        lrn = net.add_lrn(X, 3, 1e-2, 0.75, 1.0)
        return [rs.get_output(0), ln.get_output(0), gn.get_output(0), tk.get_output(0), tk.get_output(1),
                shp.get_output(0), es.get_output(0), pr.get_output(0), lrn.get_output(0)]  # fmt: skip

    rs, ln, gn, tkv, tki, shp, es, pr, lrn = run(build, {"x": x})
    xt = T(x)
    np.testing.assert_array_equal(rs, np.repeat(np.repeat(x, 2, 2), 2, 3))
    want_ln = F.layer_norm(xt, (5,), T(gamma.reshape(5)), T(beta.reshape(5)), eps=1e-3)
    np.testing.assert_allclose(ln, want_ln.numpy(), rtol=1e-4, atol=1e-5)
    want_gn = F.group_norm(xt, 2, eps=1e-5) * T(cg) + T(cb)
    np.testing.assert_allclose(gn, want_gn.numpy(), rtol=1e-4, atol=1e-5)
    v, i = torch.topk(xt, 2, dim=3)
    np.testing.assert_allclose(tkv, v.numpy())
    np.testing.assert_array_equal(tki, i.numpy())
    np.testing.assert_array_equal(shp, [2, 4, 3, 5])
    np.testing.assert_allclose(es, np.einsum("nchw,nchv->nwv", x, x), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(pr, np.where(x > 0, x, x * slope), rtol=1e-6)
    np.testing.assert_allclose(
        lrn, F.local_response_norm(xt, 3, 1e-2, 0.75, 1.0).numpy(), rtol=1e-4, atol=1e-6
    )


def test_quantize_dequantize_round_trip(rng: np.random.Generator) -> None:
    x = f32(rng, 4, 6)
    s = np.float32(0.05)

    def build(net: tr.INetworkDefinition) -> list[tr.ITensor]:
        scale = net.add_constant((), np.array(s)).get_output(0)
        q = net.add_quantize(net.get_input(0), scale)
        dq = net.add_dequantize(q.get_output(0), scale)
        return [q.get_output(0), dq.get_output(0)]

    q, dq = run(build, {"x": x})
    want = np.clip(np.round(x / s), -128, 127)
    np.testing.assert_array_equal(q, want.astype(np.int8))
    np.testing.assert_allclose(dq, want * s, rtol=1e-6)


def test_changing_a_parameter_re_emits_the_layer_and_reinfers_downstream(rng: np.random.Generator) -> None:
    net = tr.Builder(LOGGER).create_network()
    x = net.add_input("x", tr.float32, (1, 2, 8, 8))
    conv = net.add_convolution_nd(x, 3, (3, 3), f32(rng, 3, 2, 3, 3), None)
    relu = net.add_activation(conv.get_output(0), tr.ActivationType.RELU)
    out = relu.get_output(0)
    net.mark_output(out)
    assert out.shape == (1, 3, 6, 6)
    conv.stride_nd = (2, 2)
    conv.padding_nd = (1, 1)
    assert conv.get_output(0).shape == (1, 3, 4, 4) and out.shape == (1, 3, 4, 4)
    conv.name = "stem"
    assert "stem.kernel" in net.module.resources and "Convolution_0.kernel" not in net.module.resources
    text = print_ir(net.module)
    assert text.count("nn.conv") == 1 and 'loc("stem")' in text


def test_bad_parameters_name_the_layer_and_leave_the_network_unchanged(rng: np.random.Generator) -> None:
    net = tr.Builder(LOGGER).create_network()
    x = net.add_input("x", tr.float32, (1, 2, 8, 8))
    conv = net.add_convolution_nd(x, 3, (3, 3), f32(rng, 3, 2, 3, 3), None)
    net.mark_output(conv.get_output(0))
    before = print_ir(net.module)
    with pytest.raises(tr.NetworkError, match="Convolution_0.*24 values, expected 54"):
        conv.kernel = f32(rng, 3, 2, 2, 2)
    with pytest.raises(tr.NetworkError, match="bias weights have 2 values, expected 3"):
        conv.bias = np.ones(2, np.float32)
    assert print_ir(net.module) == before and conv.bias is None
    with pytest.raises(tr.NetworkError, match="needs a rank-4 input"):
        net.add_convolution_nd(net.add_input("v", tr.float32, (2, 8)), 3, (3, 3), np.ones(54, np.float32))
    with pytest.raises(tr.NetworkError, match="already has an input named 'x'"):
        net.add_input("x", tr.float32, (1,))
    other = tr.Builder(LOGGER).create_network()
    with pytest.raises(tr.NetworkError, match="belongs to another network"):
        other.add_activation(x, tr.ActivationType.RELU)


def test_precision_pin_keeps_a_layer_in_float32(rng: np.random.Generator) -> None:
    net = tr.Builder(LOGGER).create_network()
    x = net.add_input("x", tr.float32, (4, 8))
    sm = net.add_softmax(x)
    sm.axes = 1 << 1
    sm.precision = tr.float32
    net.mark_output(sm.get_output(0))
    assert sm.precision_is_set
    config = tr.Builder(LOGGER).create_builder_config()
    config.set_flag(tr.BuilderFlag.FP16)
    engine = tr.Builder(LOGGER).build_engine_with_config(net, config)
    softmaxes = [op for op in engine.module.walk() if op.name == "nn.softmax"]
    assert softmaxes and all(str(op.results[0].type.dtype) == "f32" for op in softmaxes)


def test_failed_changes_roll_back_completely(rng: np.random.Generator) -> None:
    net = tr.Builder(LOGGER).create_network()
    x = net.add_input("x", tr.float32, (1, 2, -1, -1))
    conv = net.add_convolution_nd(x, 3, (3, 3), f32(rng, 3, 2, 3, 3), None)
    act = net.add_activation(conv.get_output(0), tr.ActivationType.LEAKY_RELU)
    net.mark_output(act.get_output(0))
    before = print_ir(net.module)
    with pytest.raises(tr.NetworkError, match="SAME_UPPER needs static spatial dimensions"):
        conv.padding_mode = tr.PaddingMode.SAME_UPPER
    with pytest.raises(tr.NetworkError, match="has no output #3"):
        act.set_output_type(3, tr.float16)
    assert print_ir(net.module) == before
    conv.stride_nd = (2, 2)  # the layer still takes changes after the failures
    act.alpha = 0.5
    assert "strides = [2, 2]" in print_ir(net.module) and "alpha = 0.5" in print_ir(net.module)
    with pytest.raises(tr.NetworkError, match="Unary_2"):
        unary = net.add_unary(act.get_output(0), tr.UnaryOperation.EXP)
        unary.set_input(0, unary.get_output(0))  # its own output: a cycle


def test_a_change_that_breaks_a_consumer_is_refused(rng: np.random.Generator) -> None:
    net = tr.Builder(LOGGER).create_network()
    a = net.add_input("a", tr.float32, (3, 4))
    sh = net.add_shuffle(a)
    sh.reshape_dims = (3, 4)
    total = net.add_elementwise(sh.get_output(0), a, tr.ElementWiseOperation.SUM)
    net.mark_output(total.get_output(0))
    before = print_ir(net.module)
    with pytest.raises(tr.NetworkError, match="no longer accepts its inputs"):
        sh.reshape_dims = (4, 3)
    assert print_ir(net.module) == before and sh.reshape_dims == (3, 4)


def test_weight_names_survive_edits_and_dynamic_dims_stay_distinct(rng: np.random.Generator) -> None:
    net = tr.Builder(LOGGER).create_network()
    x = net.add_input("input:0", tr.float32, (-1, 2, 6, 6))
    y = net.add_input("input_0", tr.float32, (-1, 3))
    assert x.value.type.shape[0] != y.value.type.shape[0]  # two unknown batch sizes, not one
    conv = net.add_convolution_nd(x, 3, (3, 3), f32(rng, 3, 2, 3, 3), np.zeros(3, np.float32))
    for pad in ((1, 1), (0, 0), (1, 1)):
        conv.padding_nd = pad
    assert sorted(net.module.resources) == ["Convolution_0.bias", "Convolution_0.kernel"]


def test_fp8_quantized_matrix_multiply(rng: np.random.Generator) -> None:
    """TensorRT's FP8 recipe through the network API: add_quantize to FP8 and add_dequantize on the
    input (one scale) and on a constant weight (one scale per output column, axis 1): the engine
    runs an FP8 GEMM (no host layer) and agrees with the reference interpreter."""
    import ml_dtypes

    x = f32(rng, 8, 32)
    w = f32(rng, 32, 16)
    sw = (np.abs(w).max(axis=0) / 448).astype(np.float32)
    wq = (w / sw).astype(ml_dtypes.float8_e4m3fn)
    net = tr.Builder(LOGGER).create_network()
    xin = net.add_input("x", tr.float32, x.shape)
    sx = net.add_constant((), np.array(0.01, np.float32)).get_output(0)
    xq = net.add_quantize(xin, sx, tr.DataType.FP8).get_output(0)
    xd = net.add_dequantize(xq, sx).get_output(0)
    wt = net.add_constant(wq.shape, wq).get_output(0)
    wd_layer = net.add_dequantize(wt, net.add_constant(sw.shape, sw).get_output(0))
    wd_layer.axis = 1
    y = net.add_matrix_multiply(xd, tr.MatrixOperation.NONE, wd_layer.get_output(0), tr.MatrixOperation.NONE)
    y.get_output(0).name = "y"
    net.mark_output(y.get_output(0))
    want = tr.compile(net.module, backend="reference")({"x": x})["y"]
    engine = tr.compile(net.module)
    assert engine.host_steps({"x": x.shape}) == []
    assert any(
        "matmul_float8" in layer.get("kernel", "") for layer in engine.inspect({"x": x.shape})["layers"]
    )
    np.testing.assert_allclose(engine({"x": x})["y"], want, rtol=1e-5, atol=1e-5)
    # the quantization is the real thing: the product differs from the unquantized one
    assert not np.allclose(want, x @ w, rtol=1e-3, atol=1e-3)
