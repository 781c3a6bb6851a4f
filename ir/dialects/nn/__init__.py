"""The nn dialect: graph-level tensor ops with ONNX-like, normalized semantics (DESIGN.md section 4).

Every attribute is explicit and each op has one form: frontends resolve opset differences, defaults
and auto-padding before building these ops.
"""

from tritium.ir.dialects.nn.constant import Constant
from tritium.ir.dialects.nn.conv import Conv
from tritium.ir.dialects.nn.elementwise import (
    Abs,
    Add,
    BinaryOp,
    Div,
    Erf,
    Exp,
    Log,
    Max,
    Min,
    Mul,
    Neg,
    Pow,
    Relu,
    Sigmoid,
    Sqrt,
    Sub,
    Tanh,
    UnaryOp,
)
from tritium.ir.dialects.nn.linalg import MatMul
from tritium.ir.dialects.nn.reduce import (
    ReduceMax,
    ReduceMean,
    ReduceMin,
    ReduceOp,
    ReduceProd,
    ReduceSum,
    Softmax,
)
from tritium.ir.dialects.nn.shape import Concat, Reshape, Transpose

__all__ = [
    "Abs",
    "Add",
    "BinaryOp",
    "Concat",
    "Constant",
    "Conv",
    "Div",
    "Erf",
    "Exp",
    "Log",
    "MatMul",
    "Max",
    "Min",
    "Mul",
    "Neg",
    "Pow",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceOp",
    "ReduceProd",
    "ReduceSum",
    "Relu",
    "Reshape",
    "Sigmoid",
    "Softmax",
    "Sqrt",
    "Sub",
    "Tanh",
    "Transpose",
    "UnaryOp",
]
