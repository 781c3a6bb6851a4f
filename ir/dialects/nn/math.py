"""Unary math: trigonometric and hyperbolic functions, rounding, reciprocal and sign.

Each op is a `UnaryOp` (same type in and out, floats computed in float64 and cast back).
"""

from __future__ import annotations

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.dialects.nn.elementwise import UnaryOp
from tritium.ir.opdef import operand


class Sin(UnaryOp):
    name = "nn.sin"
    x = operand(D.FLOATS)
    fn = np.sin


class Cos(UnaryOp):
    name = "nn.cos"
    x = operand(D.FLOATS)
    fn = np.cos


class Tan(UnaryOp):
    name = "nn.tan"
    x = operand(D.FLOATS)
    fn = np.tan


class Asin(UnaryOp):
    name = "nn.asin"
    x = operand(D.FLOATS)
    fn = np.arcsin


class Acos(UnaryOp):
    name = "nn.acos"
    x = operand(D.FLOATS)
    fn = np.arccos


class Atan(UnaryOp):
    name = "nn.atan"
    x = operand(D.FLOATS)
    fn = np.arctan


class Sinh(UnaryOp):
    name = "nn.sinh"
    x = operand(D.FLOATS)
    fn = np.sinh


class Cosh(UnaryOp):
    name = "nn.cosh"
    x = operand(D.FLOATS)
    fn = np.cosh


class Asinh(UnaryOp):
    name = "nn.asinh"
    x = operand(D.FLOATS)
    fn = np.arcsinh


class Acosh(UnaryOp):
    name = "nn.acosh"
    x = operand(D.FLOATS)
    fn = np.arccosh


class Atanh(UnaryOp):
    name = "nn.atanh"
    x = operand(D.FLOATS)
    fn = np.arctanh


class Ceil(UnaryOp):
    name = "nn.ceil"
    x = operand(D.FLOATS)
    fn = np.ceil


class Floor(UnaryOp):
    name = "nn.floor"
    x = operand(D.FLOATS)
    fn = np.floor


class Round(UnaryOp):
    """Round to the nearest integer, halves to the nearest even integer."""

    name = "nn.round"
    x = operand(D.FLOATS)
    fn = np.rint


class Reciprocal(UnaryOp):
    name = "nn.reciprocal"
    x = operand(D.FLOATS)
    fn = staticmethod(lambda x: 1.0 / x)


class Sign(UnaryOp):
    """-1, 0 or 1 by the sign of x (NaN stays NaN)."""

    name = "nn.sign"
    x = operand(D.NUMERIC)
    fn = np.sign
