"""Cases for the layer ops: convolutions, pooling, normalizations, recurrent and vision layers.

Oracles are torch's functional layers where torch has the op, else plain-loop numpy written from the
ONNX definitions (deformable convolution, RoI pooling, non-maximum suppression)."""

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

# -- recurrent layers ---------------------------------------------------------------------------------------

TORCH_GATES = {torch.nn.RNN: [0], torch.nn.GRU: [1, 0, 2], torch.nn.LSTM: [0, 2, 3, 1]}
"""ONNX gate blocks in torch's order (GRU: zrh -> rzn, LSTM: iofc -> ifgo)."""


def torch_recurrent(cls, x, w, r, b, states, batch_first=False, **kw):  # type: ignore[no-untyped-def]
    """torch's layer with the ONNX weights; returns (y as (seq|batch, ..., directions * hidden), states)."""
    dirs, hidden = w.shape[0], r.shape[-1]
    m = cls(x.shape[-1], hidden, bidirectional=dirs == 2, batch_first=batch_first, **kw).double()

    def order(a: np.ndarray) -> torch.Tensor:
        return T(
            np.concatenate([a[k * hidden : (k + 1) * hidden] for k in TORCH_GATES[cls]]).astype(np.float64)
        )

    gh = w.shape[1]
    with torch.no_grad():
        for d in range(dirs):
            sfx = "_reverse" if d else ""
            getattr(m, "weight_ih_l0" + sfx).copy_(order(w[d]))
            getattr(m, "weight_hh_l0" + sfx).copy_(order(r[d]))
            getattr(m, "bias_ih_l0" + sfx).copy_(order(b[d, :gh]))
            getattr(m, "bias_hh_l0" + sfx).copy_(order(b[d, gh:]))
        st = [T(s.astype(np.float64)) for s in states]
        y, out = m(T(x.astype(np.float64)), (st[0] if len(st) == 1 else tuple(st)) if st else None)
    out = list(out) if isinstance(out, tuple) else [out]
    return N(y), [N(s) for s in out]


def lstm_seq_oracle(x, w, r, b, lens, h0, c0):  # type: ignore[no-untyped-def]
    """Each sequence run on its own, truncated to its length (steps past it: zeros)."""
    seq, batch = x.shape[:2]
    dirs, hidden = w.shape[0], r.shape[-1]
    y = np.zeros((seq, dirs, batch, hidden))
    yh, yc = np.zeros((dirs, batch, hidden)), np.zeros((dirs, batch, hidden))
    for i in range(batch):
        n = int(lens[i])
        out, (h, c) = torch_recurrent(
            torch.nn.LSTM, x[:n, i : i + 1], w, r, b, [h0[:, i : i + 1], c0[:, i : i + 1]]
        )
        y[:n, :, i] = out[:, 0].reshape(n, dirs, hidden)
        yh[:, i], yc[:, i] = h[:, 0], c[:, 0]
    return [y.astype(f32), yh.astype(f32), yc.astype(f32)]


def acts(names: list[str]) -> str:
    q = ", ".join(f'"{a}"' for a in names)
    z = ", ".join("0.0" for _ in names)
    return f"activations = [{q}], activation_alpha = [{z}], activation_beta = [{z}]"


def gru_oracle(x, w, r, b, h0):  # type: ignore[no-untyped-def]
    y, (h,) = torch_recurrent(torch.nn.GRU, x, w, r, b, [h0])
    return [y.reshape(4, 2, 1, 5).transpose(0, 2, 1, 3).astype(f32), h.astype(f32)]


def rnn_oracle(x, w, r, b):  # type: ignore[no-untyped-def]
    y, (h,) = torch_recurrent(torch.nn.RNN, x, w, r, b, [], batch_first=True)
    return [y.reshape(2, 4, 2, 4).astype(f32), h.transpose(1, 0, 2).astype(f32)]


LSTM_IN = "x:5x3x4xf32 w:2x12x4xf32 r:2x12x3xf32 b:2x24xf32 lens:3xi32 h0:2x3x3xf32 c0:2x3x3xf32"
RNN = {
    "nn.lstm": [
        case(
            "nn.lstm",
            LSTM_IN,
            "5x2x3x3xf32 2x3x3xf32 2x3x3xf32",
            'hidden_size = 3, direction = "bidirectional", ' + acts(["Sigmoid", "Tanh", "Tanh"] * 2),
            lstm_seq_oracle,
            lambda g: [
                *normal((5, 3, 4), (2, 12, 4), (2, 12, 3), (2, 24), scale=0.5)(g),
                np.array([5, 3, 1], np.int32),
                *normal((2, 3, 3), (2, 3, 3))(g),
            ],
        )
    ],
    "nn.gru": [
        case(
            "nn.gru",
            "x:4x2x3xf32 w:1x15x3xf32 r:1x15x5xf32 b:1x30xf32 h0:1x2x5xf32",
            "4x1x2x5xf32 1x2x5xf32",
            "hidden_size = 5, linear_before_reset = true, operand_segments = [1, 1, 1, 1, 0, 1], "
            + acts(["Sigmoid", "Tanh"]),
            gru_oracle,
            normal((4, 2, 3), (1, 15, 3), (1, 15, 5), (1, 30), (1, 2, 5), scale=0.5),
        )
    ],
    "nn.rnn": [
        case(
            "nn.rnn",
            "x:2x4x3xf32 w:2x4x3xf32 r:2x4x4xf32 b:2x8xf32",
            "2x4x2x4xf32 2x2x4xf32",
            'hidden_size = 4, direction = "bidirectional", layout = 1, ' + acts(["Tanh", "Tanh"]),
            rnn_oracle,
            normal((2, 4, 3), (2, 4, 3), (2, 4, 4), (2, 8), scale=0.5),
        )
    ],
}

# -- vision layers ---------------------------------------------------------------------------------------


def roi_align_oracle(x, rois, idx, oh=3, ow=2, ratio=0, scale=0.5, half=False, mode="max"):  # type: ignore[no-untyped-def]
    """Plain-loop RoiAlign: bilinear samples (zero beyond one pixel outside, else clamped)."""
    _, c, h, w = x.shape
    out = np.zeros((len(rois), c, oh, ow))
    for r in range(len(rois)):
        img = x[int(idx[r])].astype(np.float64)
        x1, y1, x2, y2 = rois[r].astype(np.float64) * scale - (0.5 if half else 0.0)
        rw, rh = (x2 - x1, y2 - y1) if half else (max(x2 - x1, 1.0), max(y2 - y1, 1.0))
        gh = ratio or int(np.ceil(rh / oh))
        gw = ratio or int(np.ceil(rw / ow))
        for ph, pw in itertools.product(range(oh), range(ow)):
            terms = []
            for iy, ix in itertools.product(range(gh), range(gw)):
                y = y1 + ph * rh / oh + (iy + 0.5) * rh / oh / gh
                xx = x1 + pw * rw / ow + (ix + 0.5) * rw / ow / gw
                if y < -1 or y > h or xx < -1 or xx > w:
                    terms.append(np.zeros((4, c)))
                    continue
                y, xx = max(y, 0.0), max(xx, 0.0)
                y0, x0 = min(int(y), h - 1), min(int(xx), w - 1)
                y1_, x1_ = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
                ly = 0.0 if y0 == h - 1 else y - y0
                lx = 0.0 if x0 == w - 1 else xx - x0
                corners = [
                    (y0, x0, (1 - ly) * (1 - lx)),
                    (y0, x1_, (1 - ly) * lx),
                    (y1_, x0, ly * (1 - lx)),
                    (y1_, x1_, ly * lx),
                ]
                terms.append(np.stack([wt * img[:, a, b] for a, b, wt in corners]))
            t = np.stack(terms)  # samples, 4, C
            out[r, :, ph, pw] = t.sum(axis=(0, 1)) / (gh * gw) if mode == "avg" else t.max(axis=(0, 1))
    return [out.astype(f32)]


def roi_inputs(g: np.random.Generator) -> list[np.ndarray]:
    lo = g.uniform(-3, 10, (4, 2))
    rois = np.concatenate([lo, lo + g.uniform(0.5, 8, (4, 2))], 1).astype(f32)
    return [g.standard_normal((2, 3, 8, 8)).astype(f32), rois, np.array([0, 1, 1, 0], np.int64)]


def max_roi_oracle(x, rois, ph=2, pw=3, scale=0.5):  # type: ignore[no-untyped-def]
    out = np.zeros((len(rois), x.shape[1], ph, pw), f32)
    h, w = x.shape[2:]
    for r, roi in enumerate(rois):
        x1, y1, x2, y2 = (int(np.floor(abs(v) * scale + 0.5) * np.sign(v)) for v in roi[1:])
        bh, bw = max(y2 - y1 + 1, 1) / ph, max(x2 - x1 + 1, 1) / pw
        for i, j in itertools.product(range(ph), range(pw)):
            hs, he = np.clip([int(np.floor(i * bh)) + y1, int(np.ceil((i + 1) * bh)) + y1], 0, h)
            ws, we = np.clip([int(np.floor(j * bw)) + x1, int(np.ceil((j + 1) * bw)) + x1], 0, w)
            if he > hs and we > ws:
                out[r, :, i, j] = x[int(roi[0]), :, hs:he, ws:we].max(axis=(1, 2))
    return [out]


def nms_oracle(boxes, scores, limit, iou_t, score_t):  # type: ignore[no-untyped-def]
    def iou(a: np.ndarray, b: np.ndarray) -> float:
        ay1, ay2, ax1, ax2 = min(a[0], a[2]), max(a[0], a[2]), min(a[1], a[3]), max(a[1], a[3])
        by1, by2, bx1, bx2 = min(b[0], b[2]), max(b[0], b[2]), min(b[1], b[3]), max(b[1], b[3])
        inter = max(min(ay2, by2) - max(ay1, by1), 0) * max(min(ax2, bx2) - max(ax1, bx1), 0)
        union = (ay2 - ay1) * (ax2 - ax1) + (by2 - by1) * (bx2 - bx1) - inter
        return inter / union if union > 0 else 0.0

    rows = []
    for b, k in itertools.product(range(boxes.shape[0]), range(scores.shape[1])):
        cand = sorted(
            (i for i in range(boxes.shape[1]) if scores[b, k, i] >= score_t[0]),
            key=lambda i: (-scores[b, k, i], i),
        )
        kept: list[int] = []
        for i in cand:
            if len(kept) < limit[0] and all(iou(boxes[b, i], boxes[b, j]) <= iou_t[0] for j in kept):
                kept.append(i)
        rows += [[b, k, i] for i in kept]
    return [np.array(rows, np.int64).reshape(-1, 3)]


def nms_inputs(g: np.random.Generator) -> list[np.ndarray]:
    centers, sizes = g.uniform(0, 4, (2, 8, 2)), g.uniform(1, 3, (2, 8, 2))
    boxes = np.concatenate([centers - sizes / 2, centers + sizes / 2], -1)
    boxes[:, ::3] = boxes[:, ::3][..., [2, 3, 0, 1]]  # some boxes give the other diagonal
    return [
        boxes.astype(f32),
        g.uniform(0, 1, (2, 2, 8)).astype(f32),
        np.array([3], np.int64),
        np.array([0.3], f32),
        np.array([0.2], f32),
    ]


def grid_case(x_shape: str, g_shape: str, mode: str, pad: str, align: bool) -> OpCase:
    xs, gs = shapes(f"x:{x_shape}xf32 g:{g_shape}xf32")
    out = "x".join(map(str, (xs[0], xs[1], *gs[1:-1])))
    torch_mode = {"linear": "bilinear", "cubic": "bicubic"}.get(mode, mode)
    return case(
        "nn.grid_sample",
        f"x:{x_shape}xf32 g:{g_shape}xf32",
        f"{out}xf32",
        f'align_corners = {str(align).lower()}, mode = "{mode}", padding_mode = "{pad}"',
        lambda x, grid: [N(F.grid_sample(T(x), T(grid), torch_mode, pad, align))],
        lambda g: [g.standard_normal(xs).astype(f32), g.uniform(-1.3, 1.3, gs).astype(f32)],
    )


def affine_case(size: tuple[int, ...], align: bool) -> OpCase:
    r = len(size) - 2
    out = "x".join(map(str, (size[0], *size[2:], r)))
    return case(
        "nn.affine_grid",
        f"t:{size[0]}x{r}x{r + 1}xf32 =s:{len(size)}xi64",
        f"{out}xf32",
        f"align_corners = {str(align).lower()}",
        lambda t: [N(F.affine_grid(T(t), list(size), align_corners=align))],
        pre=f"  %s = nn.constant dense<{list(size)}> : tensor<{len(size)}xi64>\n",
        ops=("nn.constant",),
    )


ROI = "x:2x3x8x8xf32 rois:4x4xf32 i:4xi64"
VISION = {
    "nn.roi_align": [
        case(
            "nn.roi_align",
            ROI,
            "4x3x3x2xf32",
            'coordinate_transformation_mode = "output_half_pixel", mode = "max", output_height = 3,'
            " output_width = 2, sampling_ratio = 0, spatial_scale = 0.5",
            roi_align_oracle,
            roi_inputs,
        ),
        case(
            "nn.roi_align",
            ROI,
            "4x3x3x2xf32",
            'mode = "avg", output_height = 3, output_width = 2, sampling_ratio = 2, spatial_scale = 0.5',
            lambda x, rois, i: roi_align_oracle(x, rois, i, ratio=2, half=True, mode="avg"),
            roi_inputs,
        ),
    ],
    "nn.max_roi_pool": [
        case(
            "nn.max_roi_pool",
            "x:2x3x8x8xf32 rois:3x5xf32",
            "3x3x2x3xf32",
            "pooled_shape = [2, 3], spatial_scale = 0.5",
            max_roi_oracle,
            lambda g: [
                g.standard_normal((2, 3, 8, 8)).astype(f32),
                np.array([[0, 1, 2, 9, 13], [1, -3, 0, 6, 5], [1, 4, 4, 4.6, 7]], f32),
            ],
        )
    ],
    "nn.grid_sample": [
        grid_case("1x2x4x5", "1x3x4x2", "linear", "reflection", False),
        grid_case("2x2x5x4", "2x3x3x2", "cubic", "border", True),
        grid_case("2x2x5x4", "2x3x3x2", "cubic", "zeros", False),
        grid_case("1x2x3x4x5", "1x2x2x3x3", "nearest", "zeros", False),
        grid_case("1x2x3x4x5", "1x2x2x3x3", "linear", "border", True),
    ],
    "nn.affine_grid": [affine_case((2, 3, 4, 5), False), affine_case((1, 1, 2, 3, 4), True)],
    "nn.non_max_suppression": [
        case(
            "nn.non_max_suppression",
            "boxes:2x8x4xf32 scores:2x2x8xf32 m:1xi64 iou:1xf32 st:1xf32",
            "?x3xi64",
            "center_point_box = 0",
            nms_oracle,
            nms_inputs,
            rtol=0,
        )
    ],
}

CASES: dict[str, list[OpCase]] = {**CONV, **POOL, **NORM, **RNN, **VISION}
