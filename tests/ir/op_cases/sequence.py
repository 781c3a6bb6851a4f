"""Cases for sequence and optional ops. Sequences and optionals stay inside each case: the functions
return tensors built from them."""

from __future__ import annotations

import numpy as np
import torch

from tests.ir.op_cases.base import N, OpCase, T


def f32(*shape: int):
    return lambda g: g.standard_normal(shape).astype(np.float32)


SPLIT = """func.func @main(%x: tensor<4x6xf32>) -> (tensor<4x3xf32>, tensor<i64>) {
  %sizes = nn.constant dense<[1, 2, 3]> : tensor<3xi64>
  %s = nn.split_to_sequence %x, %sizes {axis = 1, keepdims = true} : (tensor<4x6xf32>, tensor<3xi64>) -> seq<tensor<4x?xf32>>
  %i = nn.constant dense<-1> : tensor<i64>
  %last = nn.sequence_at %s, %i : (seq<tensor<4x?xf32>>, tensor<i64>) -> tensor<4x?xf32>
  %n = nn.sequence_length %s : (seq<tensor<4x?xf32>>) -> tensor<i64>
  %r = nn.reshape %last, %shape : (tensor<4x?xf32>, tensor<2xi64>) -> tensor<4x3xf32>
  func.return %r, %n : tensor<4x3xf32>, tensor<i64>
}"""

SPLIT_ROWS = """func.func @main(%x: tensor<3x4xf32>) -> tensor<4x3xf32> {
  %s = nn.split_to_sequence %x {axis = 0, keepdims = false} : (tensor<3x4xf32>) -> seq<tensor<4xf32>>
  %y = nn.concat_from_sequence %s {axis = 1, new_axis = true} : (seq<tensor<4xf32>>) -> tensor<4x?xf32>
  %shape = nn.constant dense<[4, 3]> : tensor<2xi64>
  %r = nn.reshape %y, %shape : (tensor<4x?xf32>, tensor<2xi64>) -> tensor<4x3xf32>
  func.return %r : tensor<4x3xf32>
}"""

CONSTRUCT = """func.func @main(%a: tensor<2x3xf32>, %b: tensor<2x3xf32>, %c: tensor<2x3xf32>) -> tensor<?x3xf32> {
  %s = nn.sequence_construct %a, %b, %c : (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>) -> seq<tensor<2x3xf32>>
  %p = nn.constant dense<1> : tensor<i64>
  %e = nn.sequence_erase %s, %p : (seq<tensor<2x3xf32>>, tensor<i64>) -> seq<tensor<2x3xf32>>
  %y = nn.concat_from_sequence %e {axis = 0, new_axis = false} : (seq<tensor<2x3xf32>>) -> tensor<?x3xf32>
  func.return %y : tensor<?x3xf32>
}"""

INSERT = """func.func @main(%a: tensor<3xf32>, %b: tensor<2xf32>) -> (tensor<i64>, tensor<?xf32>) {
  %e = nn.sequence_empty {dtype = f32} : () -> seq<tensor<*xf32>>
  %s1 = nn.sequence_insert %e, %a : (seq<tensor<*xf32>>, tensor<3xf32>) -> seq<tensor<*xf32>>
  %z = nn.constant dense<0> : tensor<1xi32>
  %s2 = nn.sequence_insert %s1, %b, %z : (seq<tensor<*xf32>>, tensor<2xf32>, tensor<1xi32>) -> seq<tensor<*xf32>>
  %n = nn.sequence_length %s2 : (seq<tensor<*xf32>>) -> tensor<i64>
  %s3 = nn.sequence_erase %s2 : (seq<tensor<*xf32>>) -> seq<tensor<*xf32>>
  %f = nn.constant dense<0> : tensor<i64>
  %first = nn.sequence_at %s3, %f : (seq<tensor<*xf32>>, tensor<i64>) -> tensor<*xf32>
  %r = nn.reshape %first, %flat : (tensor<*xf32>, tensor<1xi64>) -> tensor<?xf32>
  func.return %n, %r : tensor<i64>, tensor<?xf32>
}"""

MAP = """func.func @main(%a: tensor<3xf32>, %b: tensor<3xf32>, %w: tensor<3xf32>) -> tensor<2x3xf32> {
  %s = nn.sequence_construct %a, %b : (tensor<3xf32>, tensor<3xf32>) -> seq<tensor<3xf32>>
  %m = nn.sequence_map %s, %w {
  ^bb0(%e: tensor<3xf32>, %v: tensor<3xf32>):
    %p = nn.mul %e, %v : tensor<3xf32>
    nn.yield %p : (tensor<3xf32>) -> ()
  } : (seq<tensor<3xf32>>, tensor<3xf32>) -> seq<tensor<3xf32>>
  %y = nn.concat_from_sequence %m {axis = 0, new_axis = true} : (seq<tensor<3xf32>>) -> tensor<?x3xf32>
  %shape = nn.constant dense<[2, 3]> : tensor<2xi64>
  %r = nn.reshape %y, %shape : (tensor<?x3xf32>, tensor<2xi64>) -> tensor<2x3xf32>
  func.return %r : tensor<2x3xf32>
}"""

OPTIONAL = """func.func @main(%x: tensor<3xf32>) -> (tensor<3xf32>, tensor<i32>, tensor<i32>) {
  %o = nn.optional %x : (tensor<3xf32>) -> opt<tensor<3xf32>>
  %v = nn.optional_get_element %o : (opt<tensor<3xf32>>) -> tensor<3xf32>
  %y = nn.neg %v : tensor<3xf32>
  %h = nn.optional_has_element %o : (opt<tensor<3xf32>>) -> tensor<i1>
  %hi = nn.cast %h {to = i32} : (tensor<i1>) -> tensor<i32>
  %none = nn.optional {elem_type = seq<tensor<3xf32>>} : () -> opt<seq<tensor<3xf32>>>
  %n = nn.optional_has_element %none : (opt<seq<tensor<3xf32>>>) -> tensor<i1>
  %ni = nn.cast %n {to = i32} : (tensor<i1>) -> tensor<i32>
  func.return %y, %hi, %ni : tensor<3xf32>, tensor<i32>, tensor<i32>
}"""


def _with(text: str, name: str, value: str) -> str:
    """Insert a constant definition right after the function's opening line."""
    head, rest = text.split("\n", 1)
    return f"{head}\n  %{name} = nn.constant {value}\n{rest}"


CASES = {
    "nn.split_to_sequence": [
        OpCase(
            _with(SPLIT, "shape", "dense<[4, 3]> : tensor<2xi64>"),
            lambda g: [f32(4, 6)(g)],
            lambda x: [N(torch.split(T(x), [1, 2, 3], dim=1)[-1]), np.array(3, np.int64)],
            ops=("nn.sequence_at", "nn.sequence_length", "nn.reshape"),
        ),
        OpCase(
            SPLIT_ROWS,
            lambda g: [f32(3, 4)(g)],
            lambda x: [np.ascontiguousarray(x.T)],
            ops=("nn.concat_from_sequence",),
        ),
    ],
    "nn.sequence_construct": [
        OpCase(
            CONSTRUCT,
            lambda g: [f32(2, 3)(g) for _ in range(3)],
            lambda a, b, c: [N(torch.cat([T(a), T(c)], dim=0))],
            ops=("nn.sequence_erase", "nn.concat_from_sequence"),
        )
    ],
    "nn.sequence_insert": [
        OpCase(
            _with(INSERT, "flat", "dense<[-1]> : tensor<1xi64>"),
            lambda g: [f32(3)(g), f32(2)(g)],
            lambda a, b: [np.array(2, np.int64), b],  # [b, a] with its last element erased
            ops=("nn.sequence_empty", "nn.sequence_length", "nn.sequence_erase", "nn.sequence_at"),
        )
    ],
    "nn.sequence_map": [
        OpCase(
            MAP,
            lambda g: [f32(3)(g) for _ in range(3)],
            lambda a, b, w: [N(torch.stack([T(a), T(b)]) * T(w))],
        )
    ],
    "nn.optional": [
        OpCase(
            OPTIONAL,
            lambda g: [f32(3)(g)],
            lambda x: [-x, np.array(1, np.int32), np.array(0, np.int32)],
            ops=("nn.optional_get_element", "nn.optional_has_element"),
        )
    ],
}
