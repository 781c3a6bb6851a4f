"""Cases for the shape and data-movement ops (shape, slice, gather, pad, resize, index, generate).

Oracles are torch, or plain numpy loops/indexing written independently of the ops' references.
(reshape, transpose and concat have their cases in core.py.)
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
import torch.nn.functional as F

from tests.ir.op_cases.base import N, OpCase, T, rand


def case(args, lines, rets, inputs, oracle, **kw) -> OpCase:  # type: ignore[no-untyped-def]
    """A func @main(args) running ``lines`` and returning ``rets`` ((name, type) pairs)."""
    sig = ", ".join(f"%{n}: {t}" for n, t in args)
    rt = ", ".join(t for _, t in rets)
    body = "\n".join("  " + ln for ln in lines)
    ret = f"  func.return {', '.join('%' + n for n, _ in rets)} : {rt}"
    head = f"func.func @main({sig}) -> {rt if len(rets) == 1 else f'({rt})'}"
    return OpCase(f"{head} {{\n{body}\n{ret}\n}}", inputs, oracle, **kw)


def one(line: str, oracle, *consts: str, inputs=None, **kw) -> OpCase:  # type: ignore[no-untyped-def]
    """A case whose op ``line`` maps the f32 argument %x to the result %y; types are read off the line."""
    operands, out = line.rsplit(" : ", 1)[1].split(" -> ")
    xt = operands.strip("()").split(", ")[0]
    shape = tuple(int(d) for d in xt[len("tensor<") : -1].split("x")[:-1])
    return case([("x", xt)], [*consts, line], [("y", out)], inputs or rand(*shape), oracle, **kw)


def ints(name: str, values) -> str:  # type: ignore[no-untyped-def]
    arr = np.asarray(values, np.int64)
    shape = "x".join(map(str, arr.shape))
    return f"%{name} = nn.constant dense<{arr.tolist()}> : tensor<{shape + 'x' if shape else ''}i64>"


def rint(*shape: int, lo: int = 0, hi: int = 10):  # type: ignore[no-untyped-def]
    return lambda g: [g.integers(lo, hi, shape).astype(np.int64)]


def normal(*shapes: tuple[int, ...]):  # type: ignore[no-untyped-def]
    return lambda g: [g.standard_normal(s).astype(np.float32) for s in shapes]


# -- shape.py ----------------------------------------------------------------------------------------

SHAPE = {
    "nn.shape": [
        one(
            "%y = nn.shape %x {start = 1} : (tensor<2x3x4xf32>) -> tensor<2xi64>",
            lambda x: [np.array(list(T(x).shape)[1:], np.int64)],
        )
    ],
    "nn.size": [
        one(
            "%y = nn.size %x : (tensor<2x3x4xf32>) -> tensor<i64>",
            lambda x: [np.array(T(x).numel(), np.int64)],
        )
    ],
    "nn.flatten": [
        one(
            "%y = nn.flatten %x {axis = -2} : (tensor<2x3x4x5xf32>) -> tensor<6x20xf32>",
            lambda x: [N(T(x).flatten(0, 1).flatten(1))],
        )
    ],
    "nn.squeeze": [
        one(
            "%y = nn.squeeze %x, %a : (tensor<1x3x1x5xf32>, tensor<1xi64>) -> tensor<1x3x5xf32>",
            lambda x: [N(T(x).squeeze(2))],
            ints("a", [-2]),
        ),
        one("%y = nn.squeeze %x : (tensor<1x3x1x5xf32>) -> tensor<3x5xf32>", lambda x: [N(T(x).squeeze())]),
    ],
    "nn.unsqueeze": [
        one(
            "%y = nn.unsqueeze %x, %a : (tensor<3x4xf32>, tensor<2xi64>) -> tensor<1x3x4x1xf32>",
            lambda x: [N(T(x).unsqueeze(0).unsqueeze(-1))],
            ints("a", [-1, 0]),
        )
    ],
    "nn.expand": [
        one(
            "%y = nn.expand %x, %s : (tensor<3x1xf32>, tensor<3xi64>) -> tensor<2x3x4xf32>",
            lambda x: [N(T(x).expand(2, 3, 4).contiguous())],
            ints("s", [2, 1, 4]),
        )
    ],
    "nn.tile": [
        one(
            "%y = nn.tile %x, %r : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<6x6xf32>",
            lambda x: [N(T(x).repeat(3, 2))],
            ints("r", [3, 2]),
        )
    ],
}

# -- slice.py ----------------------------------------------------------------------------------------


def _reverse_sequence(x: np.ndarray, lens: list[int]) -> np.ndarray:
    t = T(x).clone()
    for b, n in enumerate(lens):
        t[:n, b] = torch.flip(T(x)[:n, b], [0])
    return N(t)


SLICE = {
    "nn.slice": [
        one(
            "%y = nn.slice %x, %s, %e, %a, %t : (tensor<5x6xf32>, tensor<2xi64>, tensor<2xi64>, tensor<2xi64>,"
            " tensor<2xi64>) -> tensor<2x3xf32>",
            lambda x: [np.ascontiguousarray(x[[1, 3]][:, [5, 3, 1]])],
            *(ints(n, v) for n, v in (("s", [1, -1]), ("e", [4, -100]), ("a", [0, 1]), ("t", [2, -2]))),
        ),
        one(
            "%y = nn.slice %x, %s, %e : (tensor<4x7xf32>, tensor<1xi64>, tensor<1xi64>) -> tensor<2x7xf32>",
            lambda x: [N(T(x).narrow(0, 2, 2))],
            ints("s", [2]),
            ints("e", [1000]),
        ),
    ],
    "nn.split": [
        case(
            [("x", "tensor<6x4xf32>")],
            [
                ints("p", [2, 4]),
                "%a, %b = nn.split %x, %p : (tensor<6x4xf32>, tensor<2xi64>) -> (tensor<2x4xf32>, tensor<4x4xf32>)",
            ],
            [("a", "tensor<2x4xf32>"), ("b", "tensor<4x4xf32>")],
            rand(6, 4),
            lambda x: [N(t) for t in torch.split(T(x), [2, 4])],
        ),
        case(
            [("x", "tensor<2x7xf32>")],
            [
                "%a, %b, %c = nn.split %x {axis = -1, num_outputs = 3} : (tensor<2x7xf32>)"
                " -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x1xf32>)"
            ],
            [("a", "tensor<2x3xf32>"), ("b", "tensor<2x3xf32>"), ("c", "tensor<2x1xf32>")],
            rand(2, 7),
            lambda x: [N(t.contiguous()) for t in torch.split(T(x), 3, dim=1)],
        ),
    ],
    "nn.compress": [
        one(
            "%y = nn.compress %x, %c {axis = 0} : (tensor<3x4xf32>, tensor<3xi1>) -> tensor<2x4xf32>",
            lambda x: [N(T(x)[torch.tensor([0, 2])])],
            "%c = nn.constant dense<[true, false, true]> : tensor<3xi1>",
        )
    ],
    "nn.reverse_sequence": [
        one(
            "%y = nn.reverse_sequence %x, %n {batch_axis = 1, time_axis = 0}"
            " : (tensor<4x3xf32>, tensor<3xi64>) -> tensor<4x3xf32>",
            lambda x: [_reverse_sequence(x, [4, 1, 2])],
            ints("n", [4, 1, 2]),
        )
    ],
}

# -- gather.py ---------------------------------------------------------------------------------------


def _tensor_scatter(cache: np.ndarray, upd: np.ndarray, starts: list[int]) -> np.ndarray:
    out = cache.copy()
    for b, s in enumerate(starts):
        for j in range(upd.shape[1]):
            out[b, (s + j) % cache.shape[1], :] = upd[b, j, :]
    return out


def _two(xt: str, ut: str, consts: list[str], line: str, inputs, oracle) -> OpCase:  # type: ignore[no-untyped-def]
    """A case mapping the arguments %x and %u to %y of the type of %x."""
    return case([("x", xt), ("u", ut)], [*consts, line], [("y", xt)], inputs, oracle)


GATHER = {
    "nn.gather": [
        one(
            "%y = nn.gather %x, %i {axis = 1} : (tensor<5x4xf32>, tensor<2x2xi64>) -> tensor<5x2x2xf32>",
            lambda x: [N(T(x)[:, torch.tensor([[0, 3], [2, 3]])])],
            ints("i", [[0, -1], [2, 3]]),
        ),
        one(
            "%y = nn.gather %x, %i : (tensor<5xf32>, tensor<i64>) -> tensor<f32>",
            lambda x: [N(T(x)[3])],
            ints("i", -2),
        ),
    ],
    "nn.gather_elements": [
        one(
            "%y = nn.gather_elements %x, %i {axis = 1} : (tensor<3x4xf32>, tensor<3x3xi64>) -> tensor<3x3xf32>",
            lambda x: [N(torch.gather(T(x), 1, torch.tensor([[0, 3, 2], [3, 1, 1], [0, 0, 0]])))],
            ints("i", [[0, -1, 2], [3, 1, 1], [0, 0, -4]]),
        )
    ],
    "nn.gather_nd": [
        one(
            "%y = nn.gather_nd %x, %i : (tensor<2x3x4xf32>, tensor<2x2xi64>) -> tensor<2x4xf32>",
            lambda x: [N(T(x)[torch.tensor([0, 1]), torch.tensor([1, 2])])],
            ints("i", [[0, 1], [1, -1]]),
        ),
        one(
            "%y = nn.gather_nd %x, %i {batch_dims = 1} : (tensor<2x3x4xf32>, tensor<2x1x2xi64>) -> tensor<2x1xf32>",
            lambda x: [np.array([[x[0, 2, 0]], [x[1, 1, 3]]], np.float32)],
            ints("i", [[[2, 0]], [[1, 3]]]),
        ),
    ],
    "nn.scatter_elements": [
        _two(
            "tensor<3x5xf32>",
            "tensor<3x2xf32>",
            [ints("i", [[0, 4], [1, 1], [-1, 2]])],
            '%y = nn.scatter_elements %x, %i, %u {axis = 1, reduction = "add"}'
            " : (tensor<3x5xf32>, tensor<3x2xi64>, tensor<3x2xf32>) -> tensor<3x5xf32>",
            normal((3, 5), (3, 2)),
            lambda x, u: [N(T(x).scatter_add(1, torch.tensor([[0, 4], [1, 1], [4, 2]]), T(u)))],
        )
    ],
    "nn.scatter_nd": [
        _two(
            "tensor<4x3xf32>",
            "tensor<2x3xf32>",
            [ints("i", [[2], [0]])],
            "%y = nn.scatter_nd %x, %i, %u : (tensor<4x3xf32>, tensor<2x1xi64>, tensor<2x3xf32>) -> tensor<4x3xf32>",
            normal((4, 3), (2, 3)),
            lambda x, u: [N(T(x).index_put((torch.tensor([2, 0]),), T(u)))],
        )
    ],
    "nn.tensor_scatter": [
        _two(
            "tensor<2x5x3xf32>",
            "tensor<2x2x3xf32>",
            [ints("w", [1, 4])],
            '%y = nn.tensor_scatter %x, %u, %w {axis = 1, mode = "circular"}'
            " : (tensor<2x5x3xf32>, tensor<2x2x3xf32>, tensor<2xi64>) -> tensor<2x5x3xf32>",
            normal((2, 5, 3), (2, 2, 3)),
            lambda c, u: [_tensor_scatter(c, u, [1, 4])],
        )
    ],
}

# -- pad.py ------------------------------------------------------------------------------------------


def _center_crop_pad(x: np.ndarray, rows: int, cols: int) -> np.ndarray:
    out = np.zeros((rows, cols), x.dtype)
    r0, c0 = (x.shape[0] - rows) // 2, (cols - x.shape[1]) // 2  # crop rows, pad columns
    for i in range(rows):
        for j in range(x.shape[1]):
            out[i, c0 + j] = x[r0 + i, j]
    return out


def _d2s_dcr(x: np.ndarray, b: int) -> np.ndarray:
    n, c, h, w = x.shape
    out = np.zeros((n, c // (b * b), h * b, w * b), x.dtype)
    for i, j, k, r, s in itertools.product(range(c // (b * b)), range(h), range(w), range(b), range(b)):
        out[:, i, j * b + r, k * b + s] = x[:, (r * b + s) * (c // (b * b)) + i, j, k]
    return out


def _s2d_dcr(x: np.ndarray, b: int) -> np.ndarray:
    n, c, h, w = x.shape
    out = np.zeros((n, c * b * b, h // b, w // b), x.dtype)
    for i, j, k, r, s in itertools.product(range(c), range(h // b), range(w // b), range(b), range(b)):
        out[:, (r * b + s) * c + i, j, k] = x[:, i, j * b + r, k * b + s]
    return out


def _pad(mode: str, torch_mode: str, pads: list[int], out: str) -> OpCase:
    """2-D pads [top, left, bottom, right] checked against torch's (left, right, top, bottom) padding."""
    return one(
        f'%y = nn.pad %x, %p {{mode = "{mode}"}} : (tensor<3x4xf32>, tensor<4xi64>) -> {out}',
        lambda x: [N(F.pad(T(x)[None, None], (pads[1], pads[3], pads[0], pads[2]), mode=torch_mode)[0, 0])],
        ints("p", pads),
    )


PAD = {
    "nn.pad": [
        _pad("reflect", "reflect", [1, 2, 1, 0], "tensor<5x6xf32>"),
        _pad("edge", "replicate", [1, 2, 2, 1], "tensor<6x7xf32>"),
        _pad("wrap", "circular", [2, 1, 0, 3], "tensor<5x8xf32>"),
        case(
            [("x", "tensor<3x4xf32>"), ("v", "tensor<f32>")],
            [
                ints("p", [2, -1]),
                ints("a", [-1]),
                "%y = nn.pad %x, %p, %v, %a"
                " : (tensor<3x4xf32>, tensor<2xi64>, tensor<f32>, tensor<1xi64>) -> tensor<3x5xf32>",
            ],
            [("y", "tensor<3x5xf32>")],
            normal((3, 4), ()),
            lambda x, v: [N(F.pad(T(x), (2, -1), value=float(v)))],
        ),
    ],
    "nn.center_crop_pad": [
        one(
            "%y = nn.center_crop_pad %x, %s : (tensor<7x4xf32>, tensor<2xi64>) -> tensor<4x7xf32>",
            lambda x: [_center_crop_pad(x, 4, 7)],
            ints("s", [4, 7]),
        )
    ],
    "nn.col2im": [
        one(
            "%y = nn.col2im %x, %i, %b {dilations = [1, 1], pads = [1, 0, 0, 1], strides = [2, 1]}"
            " : (tensor<2x12x9xf32>, tensor<2xi64>, tensor<2xi64>) -> tensor<2x2x5x4xf32>",
            lambda x: [N(F.fold(T(x), (6, 5), (2, 3), stride=(2, 1))[:, :, 1:6, 0:4].contiguous())],
            ints("i", [5, 4]),
            ints("b", [2, 3]),
        )
    ],
    "nn.depth_to_space": [
        one(
            '%y = nn.depth_to_space %x {blocksize = 2, mode = "CRD"} : (tensor<2x8x2x3xf32>) -> tensor<2x2x4x6xf32>',
            lambda x: [N(F.pixel_shuffle(T(x), 2))],
        ),
        one(
            "%y = nn.depth_to_space %x {blocksize = 2} : (tensor<1x8x2x3xf32>) -> tensor<1x2x4x6xf32>",
            lambda x: [_d2s_dcr(x, 2)],
        ),
    ],
    "nn.space_to_depth": [
        one(
            '%y = nn.space_to_depth %x {blocksize = 2, mode = "CRD"} : (tensor<2x2x4x6xf32>) -> tensor<2x8x2x3xf32>',
            lambda x: [N(F.pixel_unshuffle(T(x), 2))],
        ),
        one(
            "%y = nn.space_to_depth %x {blocksize = 2} : (tensor<1x3x4x6xf32>) -> tensor<1x12x2x3xf32>",
            lambda x: [_s2d_dcr(x, 2)],
        ),
    ],
}

# -- generate.py -------------------------------------------------------------------------------------


def _eye(rows: int, cols: int, k: int) -> np.ndarray:
    out = np.zeros((rows, cols), np.float16)
    for i in range(rows):
        if 0 <= i + k < cols:
            out[i, i + k] = 1
    return out


def _range_inputs(g: np.random.Generator) -> list[np.ndarray]:
    start, delta = float(g.uniform(-3, 3)), float(g.uniform(0.2, 1.0))
    return [np.array(v, np.float32) for v in (start, start + delta * 6.5, delta)]


def _one_hot(i: np.ndarray, v: np.ndarray) -> list[np.ndarray]:
    hot = F.one_hot(T(i % 5), 5).float()
    return [N((hot * float(v[1]) + (1 - hot) * float(v[0])).permute(0, 2, 1).contiguous())]


GENERATE = {
    "nn.constant_of_shape": [
        case(
            [("s", "tensor<2xi64>")],
            [
                "%y = nn.constant_of_shape %s {value = dense<[7]> : tensor<1xi32>} : (tensor<2xi64>) -> tensor<?x?xi32>"
            ],
            [("y", "tensor<?x?xi32>")],
            lambda g: [g.integers(0, 4, 2).astype(np.int64)],
            lambda s: [N(torch.full(tuple(int(d) for d in s), 7, dtype=torch.int32))],
        )
    ],
    "nn.range": [
        case(
            [("a", "tensor<f32>"), ("b", "tensor<f32>"), ("d", "tensor<f32>")],
            ["%y = nn.range %a, %b, %d : (tensor<f32>, tensor<f32>, tensor<f32>) -> tensor<?xf32>"],
            [("y", "tensor<?xf32>")],
            _range_inputs,
            lambda a, b, d: [N(torch.arange(float(a), float(b), float(d), dtype=torch.float64).float())],
        )
    ],
    "nn.eye_like": [
        one(
            "%y = nn.eye_like %x {dtype = f16, k = 1} : (tensor<3x5xf32>) -> tensor<3x5xf16>",
            lambda x: [_eye(3, 5, 1)],
        )
    ],
    "nn.one_hot": [
        case(
            [("i", "tensor<2x3xi64>"), ("v", "tensor<2xf32>")],
            [
                ints("d", 5),
                "%y = nn.one_hot %i, %d, %v {axis = 1}"
                " : (tensor<2x3xi64>, tensor<i64>, tensor<2xf32>) -> tensor<2x5x3xf32>",
            ],
            [("y", "tensor<2x5x3xf32>")],
            lambda g: [g.integers(-5, 5, (2, 3)).astype(np.int64), g.standard_normal(2).astype(np.float32)],
            _one_hot,
        )
    ],
}

# -- index.py ----------------------------------------------------------------------------------------


def _unique_oracle(x: np.ndarray) -> list[np.ndarray]:
    y, inv, counts = torch.unique(T(x), sorted=True, return_inverse=True, return_counts=True)
    flat = x.reshape(-1).tolist()
    first = [flat.index(v) for v in N(y).tolist()]
    return [N(y), np.array(first, np.int64), N(inv).reshape(-1), N(counts)]


def _top_k(shape: tuple[int, int], k: int, axis: int, largest: bool) -> OpCase:
    out = tuple(k if i == axis else d for i, d in enumerate(shape))
    t = lambda s, dt: "tensor<" + "x".join(map(str, s)) + f"x{dt}>"  # noqa: E731
    attrs = f"axis = {axis}" + ("" if largest else ", largest = false")
    return case(
        [("x", t(shape, "f32"))],
        [
            ints("k", [k]),
            f"%v, %i = nn.top_k %x, %k {{{attrs}}} : ({t(shape, 'f32')}, tensor<1xi64>)"
            f" -> ({t(out, 'f32')}, {t(out, 'i64')})",
        ],
        [("v", t(out, "f32")), ("i", t(out, "i64"))],
        rand(*shape),
        lambda x: [N(r) for r in torch.topk(T(x), k, dim=axis, largest=largest)],
    )


INDEX = {
    "nn.non_zero": [
        one(
            "%y = nn.non_zero %x : (tensor<3x4xi64>) -> tensor<2x?xi64>",
            lambda x: [N(torch.nonzero(T(x)).T.contiguous())],
            inputs=rint(3, 4, lo=0, hi=3),
        )
    ],
    "nn.unique": [
        case(
            [("x", "tensor<3x4xi64>")],
            [
                "%y, %i, %v, %c = nn.unique %x"
                " : (tensor<3x4xi64>) -> (tensor<?xi64>, tensor<?xi64>, tensor<12xi64>, tensor<?xi64>)"
            ],
            [("y", "tensor<?xi64>"), ("i", "tensor<?xi64>"), ("v", "tensor<12xi64>"), ("c", "tensor<?xi64>")],
            rint(3, 4, lo=0, hi=6),
            _unique_oracle,
        )
    ],
    "nn.top_k": [_top_k((3, 6), 4, 1, False), _top_k((5, 2), 2, 0, True)],
    "nn.trilu": [
        one(
            "%y = nn.trilu %x, %k : (tensor<2x4x5xf32>, tensor<i64>) -> tensor<2x4x5xf32>",
            lambda x: [N(torch.triu(T(x), -1))],
            ints("k", -1),
        ),
        one(
            "%y = nn.trilu %x {upper = false} : (tensor<4x3xf32>) -> tensor<4x3xf32>",
            lambda x: [N(torch.tril(T(x)))],
        ),
    ],
}

# -- resize.py ---------------------------------------------------------------------------------------


def _resize(attrs: str, shape_in, const: str, shape_out, fn) -> OpCase:  # type: ignore[no-untyped-def]
    """nn.resize of %x by the constant ``const`` (scales when f32, else sizes) against torch ``fn``."""
    ti, to = ("tensor<" + "x".join(map(str, s)) + "xf32>" for s in (shape_in, shape_out))
    ct = const.split(" : ")[-1]
    seg = "1, 0, 1, 0" if "f32" in ct else "1, 0, 0, 1"
    return one(
        f"%y = nn.resize %x, %s {{{attrs}, operand_segments = [{seg}]}} : ({ti}, {ct}) -> {to}",
        lambda x: [N(fn(T(x)))],
        f"%s = nn.constant {const}",
        rtol=1e-4,
    )


RESIZE = {
    "nn.resize": [
        _resize(
            'coordinate_transformation_mode = "asymmetric", nearest_mode = "floor"',
            (1, 2, 3, 4),
            "dense<[1, 2, 7, 5]> : tensor<4xi64>",
            (1, 2, 7, 5),
            lambda t: F.interpolate(t, size=(7, 5), mode="nearest"),
        ),
        _resize(
            'mode = "linear", axes = [2, 3]',
            (2, 1, 3, 4),
            "dense<[2.0, 2.0]> : tensor<2xf32>",
            (2, 1, 6, 8),
            lambda t: F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False),
        ),
        _resize(
            'mode = "cubic"',
            (1, 1, 5, 4),
            "dense<[1, 1, 8, 3]> : tensor<4xi64>",
            (1, 1, 8, 3),
            lambda t: F.interpolate(t, size=(8, 3), mode="bicubic", align_corners=False),
        ),
        _resize(
            'mode = "linear", coordinate_transformation_mode = "align_corners"',
            (1, 2, 4, 3),
            "dense<[1, 2, 7, 5]> : tensor<4xi64>",
            (1, 2, 7, 5),
            lambda t: F.interpolate(t, size=(7, 5), mode="bilinear", align_corners=True),
        ),
        _resize(  # torch's antialiasing drops taps outside the image: exclude_outside
            'mode = "linear", antialias = true, exclude_outside = true',
            (1, 2, 9, 8),
            "dense<[1, 2, 4, 3]> : tensor<4xi64>",
            (1, 2, 4, 3),
            lambda t: F.interpolate(t, size=(4, 3), mode="bilinear", align_corners=False, antialias=True),
        ),
    ]
}

CASES: dict[str, list[OpCase]] = {**SHAPE, **SLICE, **GATHER, **PAD, **GENERATE, **INDEX, **RESIZE}
