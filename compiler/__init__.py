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
from tritium.builder import (
    Builder,
    BuilderFlag,
    BuildError,
    IAlgorithmSelector,
    IBuilderConfig,
    IOptimizationProfile,
    ITimingCache,
    MemoryPoolType,
    NetworkDefinitionCreationFlag,
    ProfilingVerbosity,
    TacticSource,
)
from tritium.enums import (
    ActivationType,
    ElementWiseOperation,
    GatherMode,
    InterpolationMode,
    LayerType,
    MatrixOperation,
    PaddingMode,
    PoolingType,
    ReduceOperation,
    ResizeCoordinateTransformation,
    ResizeRoundMode,
    SampleMode,
    ScaleMode,
    TopKOperation,
    UnaryOperation,
)
from tritium.ir.plugins import PluginError, register_plugin
from tritium.layers import ILayer, NetworkError, Weights
from tritium.logger import ILogger, Logger
from tritium.network import INetworkDefinition, ITensor
from tritium.parsers import ErrorCode, OnnxParser, ParserError
from tritium.plugins import PluginField, PluginFieldCollection, PluginFieldType, get_plugin_registry
from tritium.refit import RefitError, Refitter
from tritium.runtime.context import ExecutionContext, IProfiler
from tritium.runtime.engine import Engine
from tritium.runtime.plan import PlanError
from tritium.runtime.types import DataType, TensorIOMode
from tritium.runtime_api import Runtime

float32 = DataType.FLOAT
float16 = DataType.HALF
bfloat16 = DataType.BF16
int8 = DataType.INT8
int32 = DataType.INT32
int64 = DataType.INT64
bool = DataType.BOOL
uint8 = DataType.UINT8
fp8 = DataType.FP8


def nptype(dt: DataType) -> type:
    """The numpy scalar type of a DataType (TensorRT's ``trt.nptype``)."""
    return DataType(dt).dtype.np_dtype.type


def volume(shape: tuple[int, ...]) -> int:
    """The number of elements of a shape (TensorRT's ``trt.volume``)."""
    n = 1
    for d in shape:
        n *= int(d)
    return n


__version__ = "0.1.0"
__all__ = [
    "ActivationType",
    "BuildError",
    "BuilderFlag",
    "TacticSource",
    "ElementWiseOperation",
    "GatherMode",
    "IAlgorithmSelector",
    "IBuilderConfig",
    "IOptimizationProfile",
    "ITimingCache",
    "InterpolationMode",
    "LayerType",
    "MatrixOperation",
    "MemoryPoolType",
    "NetworkError",
    "PaddingMode",
    "PluginError",
    "PluginField",
    "PluginFieldCollection",
    "PluginFieldType",
    "PoolingType",
    "ProfilingVerbosity",
    "ReduceOperation",
    "RefitError",
    "Refitter",
    "ResizeCoordinateTransformation",
    "ResizeRoundMode",
    "SampleMode",
    "ScaleMode",
    "TopKOperation",
    "UnaryOperation",
    "Weights",
    "get_plugin_registry",
    "register_plugin",
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
    "nptype",
    "volume",
]
