"""tritium.ir: the typed SSA IR every Tritium component speaks (DESIGN.md section 4).

Importing it registers the builtin, func and nn dialects.
"""

from tritium.ir import dialects  # noqa: F401  (registers the ops)
from tritium.ir.attributes import Dense, FileLoc, FusedLoc, Location, NameLoc, ResourceRef, SymbolRef
from tritium.ir.core import Block, BlockArgument, Operation, OpResult, Region, Use, Value, mutation_count
from tritium.ir.diagnostics import ParseError, Source, TritiumError, VerifyError
from tritium.ir.dialects.builtin import ModuleOp
from tritium.ir.dialects.func import CallOp, FuncOp, ReturnOp
from tritium.ir.dtypes import DType
from tritium.ir.interpreter import Interpreter, ReferenceError, run_reference
from tritium.ir.modulefile import load_module, save_module
from tritium.ir.opdef import OP_REGISTRY, Op, lookup_op
from tritium.ir.parser import parse_ir, parse_type
from tritium.ir.printer import print_ir
from tritium.ir.rewriter import Builder, Listener, Rewriter
from tritium.ir.types import FunctionType, OptionalType, SequenceType, TensorType, Type, tensor
from tritium.ir.verifier import verify, verify_all

__all__ = [
    "OP_REGISTRY",
    "Block",
    "BlockArgument",
    "Builder",
    "CallOp",
    "DType",
    "Dense",
    "FileLoc",
    "FuncOp",
    "FunctionType",
    "FusedLoc",
    "Interpreter",
    "Listener",
    "Location",
    "ModuleOp",
    "NameLoc",
    "Op",
    "OpResult",
    "Operation",
    "OptionalType",
    "ParseError",
    "ReferenceError",
    "Region",
    "ResourceRef",
    "ReturnOp",
    "Rewriter",
    "SequenceType",
    "Source",
    "SymbolRef",
    "TensorType",
    "TritiumError",
    "Type",
    "Use",
    "Value",
    "VerifyError",
    "load_module",
    "lookup_op",
    "mutation_count",
    "parse_ir",
    "parse_type",
    "print_ir",
    "run_reference",
    "save_module",
    "tensor",
    "verify",
    "verify_all",
]
