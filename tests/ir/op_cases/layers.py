"""Cases for the layer ops: convolutions, pooling and normalizations (recurrent and vision layers are
in their own modules, which share the helpers here).

Oracles are torch's functional layers where torch has the op, else plain-loop numpy written from the
ONNX definitions (deformable convolution)."""

from __future__ import annotations

import itertools

import numpy as np
import torch
import torch.nn.functional as F

from tests.ir.op_cases.base import N, OpCase, T

f32 = np.float32


def fn(op: str, ins: str, outs: str, attrs: str = "", pre: str = "") -> str:
    """IR text of ``main`` applying ``op`` to ``ins`` ("name:2x3xf32 ..."; a name starting with ``=``
    is defined by the ``pre`` lines instead of being an argument) with result types ``outs``."""
    args = [tok.split(":") for tok in ins.split()]
    params = ", ".join(f"%{n}: tensor<{t}>" for n, t in args if not n.startswith("="))
    rts = [f"tensor<{t}>" for t in outs.split()]
    ret = rts[0] if len(rts) == 1 else "(" + ", ".join(rts) + ")"
    names = ", ".join(f"%r{i}" for i in range(len(rts)))
    operands = ", ".join(f"%{n.lstrip('=')}" for n, _ in args)
    types = ", ".join(f"tensor<{t}>" for _, t in args)
    attrs = f" {{{attrs}}}" if attrs else ""
    return (
        f"func.func @main({params}) -> {ret} {{\n{pre}"
        f"  {names} = {op} {operands}{attrs} : ({types}) -> {ret}\n  func.return {names} : {', '.join(rts)}\n}}"
    )


def shapes(ins: str) -> list[tuple[int, ...]]:
    """Shapes of the arguments of an ``fn`` signature."""
    return [
        tuple(int(d) for d in t.split("x")[:-1])
        for n, t in (tok.split(":") for tok in ins.split())
        if n[0] != "="
    ]


def normal(*shapes: tuple[int, ...], scale: float = 1.0):  # type: ignore[no-untyped-def]
    return lambda g: [(g.standard_normal(s) * scale).astype(f32) for s in shapes]


def case(op: str, ins: str, outs: str, attrs: str, oracle, inputs=None, **kw) -> OpCase:  # type: ignore[no-untyped-def]
    """An OpCase for ``fn(op, ins, outs, attrs)``; inputs default to standard normal f32 arrays."""
    pre = kw.pop("pre", "")
    return OpCase(fn(op, ins, outs, attrs, pre), inputs or normal(*shapes(ins)), oracle, **kw)


def plane_base(shape: tuple[int, ...]) -> np.ndarray:
    """Offset of each (n, c) plane in a flat NCHW index."""
    n, c = shape[:2]
    return (np.arange(n * c).reshape(n, c, *([1] * (len(shape) - 2))) * int(np.prod(shape[2:]))).astype(
        np.int64
    )


# -- convolutions --------------------------------------------------------------------------------------


def bilinear(img: np.ndarray, y: float, x: float) -> float:
    total = 0.0
    y0, x0 = int(np.floor(y)), int(np.floor(x))
    for yy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
        for xx, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
            if 0 <= yy < img.shape[0] and 0 <= xx < img.shape[1]:
                total += wy * wx * float(img[yy, xx])
    return total


def deform_oracle(x, w, offset, b, mask, stride=1, pad=1, dil=1, groups=2, og=2):  # type: ignore[no-untyped-def]
    n_, c_, _, _ = x.shape
    m_, cg, kh, kw = w.shape
    oh, ow = offset.shape[2:]
    out = np.zeros((n_, m_, oh, ow))
    for n, oy, ox in itertools.product(range(n_), range(oh), range(ow)):
        col = np.zeros((c_, kh, kw))
        for c, i, j in itertools.product(range(c_), range(kh), range(kw)):
            k = (c // (c_ // og)) * kh * kw + i * kw + j
            py = oy * stride - pad + i * dil + offset[n, 2 * k, oy, ox]
            px = ox * stride - pad + j * dil + offset[n, 2 * k + 1, oy, ox]
            col[c, i, j] = bilinear(x[n, c], py, px) * mask[n, k, oy, ox]
        for m in range(m_):
            g = m // (m_ // groups)
            out[n, m, oy, ox] = (w[m] * col[g * cg : (g + 1) * cg]).sum() + b[m]
    return [out.astype(f32)]


def uniform(lo: float, hi: float, shape: tuple[int, ...], dtype=f32):  # type: ignore[no-untyped-def]
    return lambda g: g.uniform(lo, hi, shape).astype(dtype)


def ints(lo: int, hi: int, shape: tuple[int, ...], dtype) -> object:  # type: ignore[no-untyped-def]
    return lambda g: np.asarray(g.integers(lo, hi, shape)).astype(dtype)


def float8(shape: tuple[int, ...]) -> object:  # type: ignore[no-untyped-def]
    import ml_dtypes

    return lambda g: (g.standard_normal(shape) * 8).astype(ml_dtypes.float8_e4m3fn)


def gens(*parts):  # type: ignore[no-untyped-def]
    """An input generator from one generator per input."""
    return lambda g: [p(g) for p in parts]


def qconv_oracle(x, xs, xz, w, ws, wz, ys, yz, b):  # type: ignore[no-untyped-def]
    acc = F.conv2d(T(x.astype(np.float64) - float(xz)), T(w.astype(np.float64)), padding=1)
    real = (acc + T(b.astype(np.float64)).reshape(1, 2, 1, 1)) * (
        float(xs) * T(ws.astype(np.float64)).reshape(1, 2, 1, 1)
    )
    return [N(torch.clamp(torch.round(real / float(ys)) + float(yz), 0, 255)).astype(np.uint8)]


def conv_integer_oracle(x, w, xz, wz):  # type: ignore[no-untyped-def]
    wf = w.astype(np.float64) - wz.astype(np.float64).reshape(3, 1, 1, 1)
    return [
        N(F.conv2d(T(x.astype(np.float64) - float(xz)), T(wf), stride=(1, 2), padding=1))
        .round()
        .astype(np.int32)
    ]


GEOM = "strides = [1, 1], pads = [1, 1, 1, 1], dilations = [1, 1]"
CONV = {
    "nn.conv_transpose": [
        case(
            "nn.conv_transpose",
            "x:2x4x5x5xf32 w:4x3x3x3xf32 b:6xf32",
            "2x6x10x10xf32",
            "strides = [2, 2], pads = [1, 1, 1, 1], dilations = [1, 1], output_padding = [1, 1], group = 2",
            lambda x, w, b: [
                N(F.conv_transpose2d(T(x), T(w), T(b), stride=2, padding=1, output_padding=1, groups=2))
            ],
        ),
        case(
            "nn.conv_transpose",
            "x:1x2x4xf32 w:2x3x3xf32",
            "1x3x12xf32",
            "strides = [3], pads = [0, 2], dilations = [2], output_padding = [0]",
            lambda x, w: [N(F.conv_transpose1d(T(x), T(w), stride=3, dilation=2))[:, :, :12]],
        ),
    ],
    "nn.deform_conv": [
        case(
            "nn.deform_conv",
            "x:1x4x5x5xf32 w:4x2x2x2xf32 offset:1x16x6x6xf32 b:4xf32 mask:1x8x6x6xf32",
            "1x4x6x6xf32",
            GEOM + ", group = 2, offset_group = 2",
            deform_oracle,
            gens(
                lambda g: g.standard_normal((1, 4, 5, 5)).astype(f32),
                lambda g: g.standard_normal((4, 2, 2, 2)).astype(f32),
                uniform(-1.5, 1.5, (1, 16, 6, 6)),
                lambda g: g.standard_normal(4).astype(f32),
                uniform(0, 1, (1, 8, 6, 6)),
            ),
        )
    ],
    "nn.causal_conv_with_state": [
        case(
            "nn.causal_conv_with_state",
            "x:2x3x6xf32 w:3x1x4xf32 b:3xf32 past:2x3x3xf32",
            "2x3x6xf32 2x3x3xf32",
            'activation = "silu"',
            lambda x, w, b, p: [
                N(F.silu(F.conv1d(torch.cat([T(p), T(x)], 2), T(w), T(b), groups=3))),
                np.concatenate([p, x], 2)[:, :, -3:],
            ],
        )
    ],
    "nn.conv_integer": [
        case(
            "nn.conv_integer",
            "x:1x2x5x5xui8 w:3x2x2x2xi8 xz:ui8 wz:3xi8",
            "1x3x6x3xi32",
            "strides = [1, 2], pads = [1, 1, 1, 1], dilations = [1, 1]",
            conv_integer_oracle,
            gens(
                ints(0, 256, (1, 2, 5, 5), np.uint8),
                ints(-128, 128, (3, 2, 2, 2), np.int8),
                ints(0, 256, (), np.uint8),
                ints(-10, 10, (3,), np.int8),
            ),
            rtol=0,
        )
    ],
    "nn.conv_float8": [
        case(
            "nn.conv_float8",
            "x:1x2x5x5xf8E4M3FN w:3x2x2x2xf8E4M3FN",
            "1x3x6x3xf32",
            "strides = [1, 2], pads = [1, 1, 1, 1], dilations = [1, 1]",
            lambda x, w: [
                N(
                    F.conv2d(T(x.astype(np.float64)), T(w.astype(np.float64)), stride=(1, 2), padding=1)
                ).astype(np.float32)
            ],
            gens(float8((1, 2, 5, 5)), float8((3, 2, 2, 2))),
        )
    ],
    "nn.qlinear_conv": [
        case(
            "nn.qlinear_conv",
            "x:1x2x5x5xui8 xs:f32 xz:ui8 w:2x2x3x3xi8 ws:2xf32 wz:2xi8 ys:f32 yz:ui8 b:2xi32",
            "1x2x5x5xui8",
            GEOM,
            qconv_oracle,
            gens(
                ints(0, 256, (1, 2, 5, 5), np.uint8),
                uniform(0.01, 0.05, ()),
                ints(100, 150, (), np.uint8),
                ints(-128, 128, (2, 2, 3, 3), np.int8),
                uniform(0.001, 0.01, (2,)),
                ints(0, 1, (2,), np.int8),
                uniform(0.05, 0.2, ()),
                ints(100, 150, (), np.uint8),
                ints(-500, 500, (2,), np.int32),
            ),
            rtol=0,
        )
    ],
}

# -- pooling --------------------------------------------------------------------------------------------


def max_pool_oracle(x: np.ndarray, column_major: bool = False, **kw) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    y, idx = F.max_pool2d(T(x), return_indices=True, **kw)
    idx = N(idx)
    if column_major:
        h, w = x.shape[2:]
        idx = (idx % w) * h + idx // w
    return [N(y), idx + plane_base(x.shape)]


def unpool_inputs(g: np.random.Generator) -> list[np.ndarray]:
    x = g.standard_normal((1, 2, 4, 4)).astype(f32)
    y, idx = F.max_pool2d(T(x), 2, 2, return_indices=True)
    return [N(y), N(idx) + plane_base(x.shape)]


WIN2 = "kernel_shape = [2, 2], strides = [2, 2], pads = [0, 0, 0, 0]"
WIN3 = "kernel_shape = [3, 3], strides = [2, 2], pads = [1, 1, 1, 1], dilations = [1, 1]"
POOL = {
    "nn.max_pool": [
        case(
            "nn.max_pool",
            "x:2x3x9x8xf32",
            "2x3x5x5xf32 2x3x5x5xi64",
            WIN3 + ", ceil_mode = true",
            lambda x: max_pool_oracle(x, kernel_size=3, stride=2, padding=1, ceil_mode=True),
            rtol=0,
        ),
        case(
            "nn.max_pool",
            "x:1x2x7x6xf32",
            "1x2x5x4xf32 1x2x5x4xi64",
            "kernel_shape = [2, 2], strides = [1, 1], pads = [0, 0, 0, 0], dilations = [2, 2], storage_order = 1",
            lambda x: max_pool_oracle(x, True, kernel_size=2, stride=1, dilation=2),
            rtol=0,
        ),
        case(  # channels-last: values NHWC, indices counted in the NCHW order
            "nn.max_pool",
            "x:2x9x8x3xf32",
            "2x5x4x3xf32 2x5x4x3xi64",
            WIN3 + ', layout = "NHWC"',
            lambda x: [
                a.transpose(0, 2, 3, 1)
                for a in max_pool_oracle(x.transpose(0, 3, 1, 2), kernel_size=3, stride=2, padding=1)
            ],
            rtol=0,
        ),
    ],
    "nn.average_pool": [
        case(
            "nn.average_pool",
            "x:2x3x9x8xf32",
            "2x3x5x4xf32",
            WIN3,
            lambda x: [N(F.avg_pool2d(T(x), 3, 2, 1, count_include_pad=False))],
        ),
        case(
            "nn.average_pool",
            "x:1x2x8x8xf32",
            "1x2x5x5xf32",
            WIN3 + ", ceil_mode = true, count_include_pad = true",
            lambda x: [N(F.avg_pool2d(T(x), 3, 2, 1, ceil_mode=True, count_include_pad=True))],
        ),
        case(
            "nn.average_pool",
            "x:2x8x8x5xf32",
            "2x5x5x5xf32",
            WIN3 + ', ceil_mode = true, count_include_pad = true, layout = "NHWC"',
            lambda x: [
                N(
                    F.avg_pool2d(
                        T(x.transpose(0, 3, 1, 2)), 3, 2, 1, ceil_mode=True, count_include_pad=True
                    ).permute(0, 2, 3, 1)
                )
            ],
        ),
        case(  # 3-D windows
            "nn.average_pool",
            "x:1x2x5x6x7xf32",
            "1x2x3x3x4xf32",
            "kernel_shape = [3, 2, 3], strides = [2, 2, 2], pads = [1, 0, 1, 1, 0, 1], dilations = [1, 1, 1],"
            " count_include_pad = true",
            lambda x: [N(F.avg_pool3d(T(x), (3, 2, 3), 2, (1, 0, 1), count_include_pad=True))],
        ),
    ],
    "nn.lp_pool": [
        case(
            "nn.lp_pool",
            "x:1x3x7x7xf32",
            "1x3x3x3xf32",
            "kernel_shape = [3, 3], strides = [2, 2], pads = [0, 0, 0, 0], dilations = [1, 1], p = 2",
            lambda x: [N(F.lp_pool2d(T(x), 2, 3, 2))],
        )
    ],
    "nn.global_average_pool": [
        case(
            "nn.global_average_pool",
            "x:2x3x5x4xf32",
            "2x3x1x1xf32",
            "",
            lambda x: [N(F.adaptive_avg_pool2d(T(x), 1))],
        )
    ],
    "nn.global_max_pool": [
        case(
            "nn.global_max_pool",
            "x:2x3x5x4x2xf32",
            "2x3x1x1x1xf32",
            "",
            lambda x: [N(F.adaptive_max_pool3d(T(x), 1))],
        )
    ],
    "nn.global_lp_pool": [
        case(
            "nn.global_lp_pool",
            "x:2x3x5x4xf32",
            "2x3x1x1xf32",
            "p = 3",
            lambda x: [N(torch.linalg.vector_norm(T(x), 3, dim=(2, 3), keepdim=True))],
        )
    ],
    "nn.max_unpool": [
        case(
            "nn.max_unpool",
            "x:1x2x2x2xf32 i:1x2x2x2xi64",
            "1x2x4x4xf32",
            WIN2,
            lambda x, i: [N(F.max_unpool2d(T(x), T(i % 16), 2, 2))],
            unpool_inputs,
        ),
        case(
            "nn.max_unpool",
            "x:1x2x2x2xf32 i:1x2x2x2xi64 =s:4xi64",
            "1x2x5x5xf32",
            WIN2,
            lambda x, i: [np.pad(N(F.max_unpool2d(T(x), T(i % 16), 2, 2)), [(0, 0), (0, 0), (0, 1), (0, 1)])],
            unpool_inputs,
            pre="  %s = nn.constant dense<[1, 2, 5, 5]> : tensor<4xi64>\n",
            ops=("nn.constant",),
        ),
    ],
}

# -- normalizations ---------------------------------------------------------------------------------------


def with_params(x_shape: tuple[int, ...], n_params: int, var_last: bool = False):  # type: ignore[no-untyped-def]
    c = x_shape[1]

    def gen(g: np.random.Generator) -> list[np.ndarray]:
        out = [g.standard_normal(x_shape).astype(f32)] + [
            g.standard_normal(c).astype(f32) for _ in range(n_params)
        ]
        if var_last:
            out[-1] = g.uniform(0.5, 2.0, c).astype(f32)
        return out

    return gen


def bn_train_oracle(x, s, b, mean, var, momentum=0.8, eps=1e-3):  # type: ignore[no-untyped-def]
    m = T(x).double().mean(dim=(0, 2, 3))
    v = T(x).double().var(dim=(0, 2, 3), unbiased=False)
    y = F.batch_norm(T(x), None, None, T(s), T(b), training=True, eps=eps)
    return [
        N(y),
        N(T(mean).double() * momentum + m * (1 - momentum)).astype(f32),
        N(T(var).double() * momentum + v * (1 - momentum)).astype(f32),
    ]


def ln_oracle(x, s, b, eps=1e-5):  # type: ignore[no-untyped-def]
    t = T(x).double()
    m = t.mean(dim=(1, 2), keepdim=True)
    inv = torch.rsqrt(t.var(dim=(1, 2), unbiased=False, keepdim=True) + eps)
    return [N(F.layer_norm(T(x), (3, 4), T(s), T(b), eps)), N(m).astype(f32), N(inv).astype(f32)]


def mvn_oracle(x: np.ndarray) -> list[np.ndarray]:
    t = T(x)
    return [
        N(
            (t - t.mean(dim=(0, 2, 3), keepdim=True))
            / (t.std(dim=(0, 2, 3), unbiased=False, keepdim=True) + 1e-9)
        )
    ]


BN = "x:2x3x4x5xf32 s:3xf32 b:3xf32 mean:3xf32 var:3xf32"
BN_OUT = "2x3x4x5xf32 3xf32 3xf32"
NORM = {
    "nn.batch_normalization": [
        case(
            "nn.batch_normalization",
            BN,
            BN_OUT,
            "epsilon = 0.001, momentum = 0.9, training_mode = false",
            lambda x, s, b, m, v: [N(F.batch_norm(T(x), T(m), T(v), T(s), T(b), eps=1e-3)), m, v],
            with_params((2, 3, 4, 5), 4, var_last=True),
        ),
        case(
            "nn.batch_normalization",
            BN,
            BN_OUT,
            "epsilon = 0.001, momentum = 0.8, training_mode = true",
            bn_train_oracle,
            with_params((2, 3, 4, 5), 4, var_last=True),
        ),
    ],
    "nn.instance_normalization": [
        case(
            "nn.instance_normalization",
            "x:2x3x4x5xf32 s:3xf32 b:3xf32",
            "2x3x4x5xf32",
            "epsilon = 0.01",
            lambda x, s, b: [N(F.instance_norm(T(x), weight=T(s), bias=T(b), eps=0.01))],
        )
    ],
    "nn.layer_normalization": [
        case(
            "nn.layer_normalization",
            "x:2x3x4xf32 s:3x4xf32 b:3x4xf32",
            "2x3x4xf32 2x1x1xf32 2x1x1xf32",
            "axis = 1, epsilon = 1e-05, stash_type = f32",
            ln_oracle,
        )
    ],
    "nn.group_normalization": [
        case(
            "nn.group_normalization",
            "x:2x6x3x3xf32 s:6xf32 b:6xf32",
            "2x6x3x3xf32",
            "num_groups = 3, epsilon = 1e-05",
            lambda x, s, b: [N(F.group_norm(T(x), 3, T(s), T(b), 1e-5))],
        )
    ],
    "nn.rms_normalization": [
        case(
            "nn.rms_normalization",
            "x:2x3x4xf32 s:4xf32",
            "2x3x4xf32",
            "axis = -1, epsilon = 1e-05",
            lambda x, s: [N(F.rms_norm(T(x), (4,), T(s), 1e-5))],
        )
    ],
    "nn.lp_normalization": [
        case(
            "nn.lp_normalization",
            "x:3x4xf32",
            "3x4xf32",
            "axis = 0, p = 1",
            lambda x: [N(F.normalize(T(x), p=1, dim=0))],
        )
    ],
    "nn.mean_variance_normalization": [
        case("nn.mean_variance_normalization", "x:2x3x4x5xf32", "2x3x4x5xf32", "axes = [0, 2, 3]", mvn_oracle)
    ],
    "nn.lrn": [
        case(
            "nn.lrn",
            "x:2x6x3x3xf32",
            "2x6x3x3xf32",
            "size = 3, alpha = 0.01, beta = 0.75, bias = 2.0",
            lambda x: [N(F.local_response_norm(T(x), 3, alpha=0.01, beta=0.75, k=2.0))],
        )
    ],
    "nn.dropout": [
        case(
            "nn.dropout",
            "x:3x4xf32 r:f32 t:i1",
            "3x4xf32 3x4xi1",
            "seed = 0",
            lambda x, r, t: [x, np.full(x.shape, True)],
            lambda g: [g.standard_normal((3, 4)).astype(f32), np.asarray(0.3, f32), np.asarray(False)],
            rtol=0,
        )
    ],
}

CASES: dict[str, list[OpCase]] = {**CONV, **POOL, **NORM}
