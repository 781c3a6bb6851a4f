"""Types, attributes and the text format: printing, parsing, round trips and parse errors."""

from __future__ import annotations

import dataclasses

import ml_dtypes
import numpy as np
import pytest

import tritium.ir as ir
from tritium.ir import dtypes as D
from tritium.ir.attributes import Dense
from tritium.ir.parser import Parser
from tritium.ir.printer import attr_text


@pytest.mark.parametrize(
    "text",
    [
        "tensor<f32>",
        "tensor<?x3x224x224xf16>",
        "tensor<{batch}x{seq len}x768xbf16>",
        "tensor<*xi1>",
        "tensor<0x5xi64>",
        "tensor<2xf8E4M3FN>",
        "tensor<3xf8E5M2>",
        "tensor<4xui8>",
        "seq<tensor<?xf32>>",
        "opt<tensor<2xi32>>",
        "tensor<1xc64>",
    ],
)
def test_type_roundtrip(text: str) -> None:
    t = ir.parse_type(text)
    assert str(t) == text
    assert ir.parse_type(str(t)) == t
    assert hash(ir.parse_type(text)) == hash(t)


def test_types_are_frozen_values() -> None:
    t = ir.tensor((1, "n", None), D.f32)
    assert t == ir.parse_type("tensor<1x{n}x?xf32>")
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.dtype = D.f16  # type: ignore[misc]
    assert not t.is_static and t.numel is None
    assert ir.tensor((2, 3), D.f16).nbytes == 12


@pytest.mark.parametrize(
    "bad,msg",
    [
        ("tensor<3xf33>", "unknown element type 'f33'"),
        ("tensor<-1xf32>", "bad dimension '-1'"),
    ],
)
def test_type_errors(bad: str, msg: str) -> None:
    with pytest.raises(ir.ParseError, match=msg):
        ir.parse_type(bad)


@pytest.mark.parametrize(
    "value",
    [
        0,
        -7,
        1.5,
        -0.0,
        1e-30,
        float("inf"),
        True,
        False,
        "plain",
        'quote " and \\ back\nslash \u00e9',
        (),
        (1, 2, 3),
        ((1, 2), (3.5,), ("a",)),
        D.bf16,
        ir.tensor((2, None), D.i8),
        ir.ResourceRef("onnx::Conv_12"),
        ir.SymbolRef("main"),
    ],
)
def test_attr_roundtrip(value) -> None:
    p = Parser(attr_text(value))
    assert p.parse_attr_value() == value
    assert p.peek()[0] == "eof"


def test_nan_attr_roundtrip() -> None:
    v = Parser(attr_text(float("nan"))).parse_attr_value()
    assert np.isnan(v)


@pytest.mark.parametrize(
    "arr",
    [
        np.arange(6, dtype=np.float32).reshape(2, 3) / 7,
        np.array([1.0, -np.inf, np.nan, 1e-8], np.float32),
        np.full((3, 3), 0.1, np.float16),
        np.array([0.1, 3.5, -2.0], ml_dtypes.bfloat16),
        np.array([0.5, -1.75, 448.0], ml_dtypes.float8_e4m3fn),
        np.arange(100, dtype=np.int64) * -3,
        np.array([True, False, True]),
        np.array(7, np.int32),
        np.zeros((0, 4), np.float32),
        np.random.default_rng(1).standard_normal(40).astype(np.float64),
    ],
)
def test_dense_roundtrip_is_exact(arr: np.ndarray) -> None:
    d = Dense.from_array(arr)
    text = attr_text(d)
    back = Parser(text).parse_attr_value()
    assert back == d, text
    assert attr_text(back) == text
    np.testing.assert_array_equal(
        back.array.reshape(-1).view(np.uint8), np.ascontiguousarray(arr).reshape(-1).view(np.uint8)
    )


def test_parse_error_points_at_the_text() -> None:
    text = "func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {\n  %y = nn.relu %x : tensor<4xf32>\n  func.return %y tensor<4xf32>\n}\n"
    with pytest.raises(ir.ParseError) as e:
        ir.parse_ir(text, "model.tir")
    msg = str(e.value)
    assert msg.startswith("model.tir:3:18: error: expected ':'")
    assert "  func.return %y tensor<4xf32>\n                 ^" in msg


def test_verify_error_names_op_location_and_rule() -> None:
    text = (
        "func.func @f(%a: tensor<2x3xf32>, %b: tensor<4x5xf32>) -> tensor<2x5xf32> {\n"
        '  %y = nn.matmul %a, %b : (tensor<2x3xf32>, tensor<4x5xf32>) -> tensor<2x5xf32> loc("MatMul_3")\n'
        "  func.return %y : tensor<2x5xf32>\n}\n"
    )
    module = ir.parse_ir(text, "m.tir")
    with pytest.raises(ir.VerifyError) as e:
        ir.verify(module)
    msg = str(e.value)
    assert msg.startswith(
        "m.tir:2:3: error: 'nn.matmul' op at loc(\"MatMul_3\"): contraction dimensions differ"
    )


def test_name_hints_are_sanitized_and_unique() -> None:
    m = ir.ModuleOp.new()
    t = ir.tensor((2,), D.f32)
    f = ir.FuncOp.new("main", [t], [t], ["/layer.0/x:0"])
    m.block._insert(f, None)
    b = ir.Builder().set_end(f.block)
    a = b.create(ir.lookup_op("nn.relu"), f.args[0]).out
    a.name_hint = "1st"
    c = b.create(ir.lookup_op("nn.relu"), a).out
    c.name_hint = "1st"
    b.create(ir.ReturnOp, [c])
    text = ir.print_ir(m)
    assert "%_layer.0_x_0: tensor<2xf32>" in text
    assert "%v1st = nn.relu %_layer.0_x_0" in text and "%v1st_1 = nn.relu %v1st" in text
    assert ir.print_ir(ir.parse_ir(text)) == text


def test_operand_segments_for_absent_optional_operands() -> None:
    # nn.conv with its optional bias absent prints no segment sizes (they are inferable).
    text = (
        "func.func @f(%x: tensor<1x2x4x4xf32>, %w: tensor<3x2x1x1xf32>) -> tensor<1x3x4x4xf32> {\n"
        "  %y = nn.conv %x, %w {dilations = [1, 1], group = 1, pads = [0, 0, 0, 0], strides = [1, 1]}"
        " : (tensor<1x2x4x4xf32>, tensor<3x2x1x1xf32>) -> tensor<1x3x4x4xf32>\n"
        "  func.return %y : tensor<1x3x4x4xf32>\n}\n"
    )
    m = ir.parse_ir(text)
    conv = next(op for op in m.walk() if op.name == "nn.conv")
    assert conv.b is None and conv.w is conv.operand(1)
    assert "operand_segments" not in ir.print_ir(m)
