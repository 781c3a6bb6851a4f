"""Cases for the first nn ops (elementwise, matmul, conv, shape, reductions) and func ops."""

from __future__ import annotations

import numpy as np
import torch

from tests.ir.op_cases.base import N, OpCase, T, binary, rand, reduce, unary

CASES: dict[str, list[OpCase]] = {
    "nn.neg": [unary("nn.neg", torch.neg)],
    "nn.abs": [unary("nn.abs", torch.abs)],
    "nn.exp": [unary("nn.exp", torch.exp)],
    "nn.log": [unary("nn.log", torch.log, lo=0.1, hi=4.0)],
    "nn.sqrt": [unary("nn.sqrt", torch.sqrt, lo=0.0, hi=4.0)],
    "nn.tanh": [unary("nn.tanh", torch.tanh)],
    "nn.erf": [unary("nn.erf", torch.erf)],
    "nn.relu": [unary("nn.relu", torch.relu)],
    "nn.sigmoid": [unary("nn.sigmoid", torch.sigmoid)],
    "nn.add": [binary("nn.add", torch.add)],
    "nn.sub": [binary("nn.sub", torch.sub)],
    "nn.mul": [binary("nn.mul", torch.mul)],
    "nn.div": [binary("nn.div", torch.div, lo=0.5, hi=2.0)],
    "nn.pow": [binary("nn.pow", torch.pow, lo=0.5, hi=2.0)],
    "nn.max": [binary("nn.max", torch.maximum)],
    "nn.min": [binary("nn.min", torch.minimum)],
    "nn.reduce_sum": [reduce("nn.reduce_sum", lambda x, a, k: x.sum(a, keepdim=k))],
    "nn.reduce_mean": [
        reduce("nn.reduce_mean", lambda x, a, k: x.mean(a, keepdim=k), axes=(0, 2), keepdims=False)
    ],
    "nn.reduce_max": [reduce("nn.reduce_max", lambda x, a, k: x.amax(a, keepdim=k))],
    "nn.reduce_min": [reduce("nn.reduce_min", lambda x, a, k: x.amin(a, keepdim=k), axes=(2,))],
    "nn.reduce_prod": [reduce("nn.reduce_prod", lambda x, a, k: x.prod(a[0], keepdim=k))],
    "nn.softmax": [
        OpCase(
            "func.func @main(%x: tensor<2x7xf32>) -> tensor<2x7xf32> {\n"
            "  %y = nn.softmax %x {axis = 0} : tensor<2x7xf32>\n  func.return %y : tensor<2x7xf32>\n}",
            rand(2, 7),
            lambda x: [N(torch.softmax(T(x), 0))],
        )
    ],
    "nn.matmul": [
        OpCase(
            "func.func @main(%a: tensor<2x1x3x4xf32>, %b: tensor<5x4x6xf32>) -> tensor<2x5x3x6xf32> {\n"
            "  %y = nn.matmul %a, %b : (tensor<2x1x3x4xf32>, tensor<5x4x6xf32>) -> tensor<2x5x3x6xf32>\n"
            "  func.return %y : tensor<2x5x3x6xf32>\n}",
            lambda g: [
                g.standard_normal((2, 1, 3, 4)).astype(np.float32),
                g.standard_normal((5, 4, 6)).astype(np.float32),
            ],
            lambda a, b: [N(T(a) @ T(b))],
        ),
        OpCase(
            "func.func @main(%a: tensor<4xf32>, %b: tensor<3x4x2xf32>) -> tensor<3x2xf32> {\n"
            "  %y = nn.matmul %a, %b : (tensor<4xf32>, tensor<3x4x2xf32>) -> tensor<3x2xf32>\n"
            "  func.return %y : tensor<3x2xf32>\n}",
            lambda g: [
                g.standard_normal(4).astype(np.float32),
                g.standard_normal((3, 4, 2)).astype(np.float32),
            ],
            lambda a, b: [N(torch.matmul(T(a), T(b)))],
        ),
    ],
    "nn.conv": [
        OpCase(
            "func.func @main(%x: tensor<2x4x9x8xf32>, %w: tensor<6x2x3x2xf32>, %b: tensor<6xf32>) -> tensor<2x6x4x7xf32> {\n"
            "  %y = nn.conv %x, %w, %b {strides = [2, 1], pads = [1, 0, 0, 1], dilations = [1, 2], group = 2}"
            " : (tensor<2x4x9x8xf32>, tensor<6x2x3x2xf32>, tensor<6xf32>) -> tensor<2x6x4x7xf32>\n"
            "  func.return %y : tensor<2x6x4x7xf32>\n}",
            lambda g: [
                g.standard_normal((2, 4, 9, 8)).astype(np.float32),
                g.standard_normal((6, 2, 3, 2)).astype(np.float32),
                g.standard_normal(6).astype(np.float32),
            ],
            lambda x, w, b: [
                N(
                    torch.nn.functional.conv2d(
                        torch.nn.functional.pad(T(x), (0, 1, 1, 0)),
                        T(w),
                        T(b),
                        stride=(2, 1),
                        dilation=(1, 2),
                        groups=2,
                    )
                )
            ],
        ),
        OpCase(
            "func.func @main(%x: tensor<1x3x10xf32>, %w: tensor<4x3x3xf32>) -> tensor<1x4x10xf32> {\n"
            "  %y = nn.conv %x, %w {strides = [1], pads = [1, 1], dilations = [1]}"
            " : (tensor<1x3x10xf32>, tensor<4x3x3xf32>) -> tensor<1x4x10xf32>\n  func.return %y : tensor<1x4x10xf32>\n}",
            lambda g: [
                g.standard_normal((1, 3, 10)).astype(np.float32),
                g.standard_normal((4, 3, 3)).astype(np.float32),
            ],
            lambda x, w: [N(torch.nn.functional.conv1d(T(x), T(w), padding=1))],
        ),
    ],
    "nn.reshape": [
        OpCase(
            "func.func @main(%x: tensor<2x3x4xf32>) -> tensor<2x12xf32> {\n"
            "  %s = nn.constant dense<[0, -1]> : tensor<2xi64>\n"
            "  %y = nn.reshape %x, %s : (tensor<2x3x4xf32>, tensor<2xi64>) -> tensor<2x12xf32>\n  func.return %y : tensor<2x12xf32>\n}",
            rand(2, 3, 4),
            lambda x: [x.reshape(2, 12)],
            ops=("nn.constant",),
        )
    ],
    "nn.transpose": [
        OpCase(
            "func.func @main(%x: tensor<2x3x4xf32>) -> tensor<4x2x3xf32> {\n"
            "  %y = nn.transpose %x {perm = [2, 0, 1]} : (tensor<2x3x4xf32>) -> tensor<4x2x3xf32>\n"
            "  func.return %y : tensor<4x2x3xf32>\n}",
            rand(2, 3, 4),
            lambda x: [N(T(x).permute(2, 0, 1))],
        )
    ],
    "nn.concat": [
        OpCase(
            "func.func @main(%a: tensor<2x3xf32>, %b: tensor<2x1xf32>, %c: tensor<2x2xf32>) -> tensor<2x6xf32> {\n"
            "  %y = nn.concat %a, %b, %c {axis = -1} : (tensor<2x3xf32>, tensor<2x1xf32>, tensor<2x2xf32>) -> tensor<2x6xf32>\n"
            "  func.return %y : tensor<2x6xf32>\n}",
            lambda g: [g.standard_normal(s).astype(np.float32) for s in ((2, 3), (2, 1), (2, 2))],
            lambda a, b, c: [N(torch.cat([T(a), T(b), T(c)], -1))],
        )
    ],
    "nn.constant": [
        OpCase(
            "func.func @main(%x: tensor<2x2xf32>) -> tensor<2x2xf32> {\n"
            "  %c = nn.constant dense<[[1.0, -2.5], [3.0, 0.125]]> : tensor<2x2xf32>\n"
            "  %y = nn.mul %x, %c : tensor<2x2xf32>\n  func.return %y : tensor<2x2xf32>\n}",
            rand(2, 2),
            lambda x: [x * np.array([[1.0, -2.5], [3.0, 0.125]], np.float32)],
            ops=("nn.mul",),
        )
    ],
    "func.call": [
        OpCase(
            "func.func @twice(%x: tensor<3xf32>) -> tensor<3xf32> {\n  %y = nn.add %x, %x : tensor<3xf32>\n"
            "  func.return %y : tensor<3xf32>\n}\n"
            "func.func @main(%x: tensor<3xf32>) -> tensor<3xf32> {\n"
            "  %y = func.call @twice(%x) : (tensor<3xf32>) -> (tensor<3xf32>)\n  func.return %y : tensor<3xf32>\n}",
            rand(3),
            lambda x: [2 * x],
            ops=("func.func", "func.return", "builtin.module", "nn.add"),
        )
    ],
}
