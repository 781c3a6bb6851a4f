"""Tritium: a deep-learning inference compiler and runtime (TensorRT's role, Triton as code generator).

Two doors to the same machinery:

    import tritium as tr
    engine = tr.compile("model.onnx", backend="reference")     # the one-liner
    outputs = engine({"input": x})

    logger = tr.Logger(tr.Logger.WARNING)                       # TensorRT's Python API names
    network = tr.Builder(logger).create_network()
    parser = tr.OnnxParser(network, logger)
    parser.parse_from_file("model.onnx")
"""

from tritium.api import compile, load_any
from tritium.builder import Builder, NetworkDefinitionCreationFlag
from tritium.logger import ILogger, Logger
from tritium.network import DataType, ILayer, INetworkDefinition, ITensor
from tritium.parsers import ErrorCode, OnnxParser, ParserError

__version__ = "0.1.0"
__all__ = [
    "Builder",
    "DataType",
    "ErrorCode",
    "ILayer",
    "ILogger",
    "INetworkDefinition",
    "ITensor",
    "Logger",
    "NetworkDefinitionCreationFlag",
    "OnnxParser",
    "ParserError",
    "__version__",
    "compile",
    "load_any",
]
