"""Tritium: a deep-learning inference compiler and runtime (TensorRT's role, Triton as code generator).

Two doors to the same machinery:

    import tritium as tr
    engine = tr.compile("model.onnx")                           # the one-liner (GPU if present)
    outputs = engine({"input": x})
    engine.save("model.plan"); engine = tr.load("model.plan")

    logger = tr.Logger(tr.Logger.WARNING)                       # TensorRT's Python API names
    network = tr.Builder(logger).create_network()
    parser = tr.OnnxParser(network, logger)
    parser.parse_from_file("model.onnx")
"""

from tritium.api import compile, load, load_any
from tritium.builder import Builder, NetworkDefinitionCreationFlag
from tritium.logger import ILogger, Logger
from tritium.network import DataType, ILayer, INetworkDefinition, ITensor
from tritium.parsers import ErrorCode, OnnxParser, ParserError
from tritium.runtime.context import ExecutionContext, IProfiler
from tritium.runtime.engine import Engine
from tritium.runtime.plan import PlanError
from tritium.runtime.types import TensorIOMode
from tritium.runtime_api import Runtime

__version__ = "0.1.0"
__all__ = [
    "Builder",
    "DataType",
    "Engine",
    "ErrorCode",
    "ExecutionContext",
    "ILayer",
    "ILogger",
    "INetworkDefinition",
    "IProfiler",
    "ITensor",
    "Logger",
    "NetworkDefinitionCreationFlag",
    "OnnxParser",
    "ParserError",
    "PlanError",
    "Runtime",
    "TensorIOMode",
    "__version__",
    "compile",
    "load",
    "load_any",
]
