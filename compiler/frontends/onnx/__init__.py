"""The ONNX frontend: ModelProto (path, bytes or proto; external data) -> nn dialect Module."""

from tritium.frontends.onnx.context import NodeContext, NodeError, UnsupportedNode
from tritium.frontends.onnx.importer import OnnxImporter, OnnxImportError, import_onnx
from tritium.frontends.onnx.proto import OnnxFormatError
from tritium.frontends.onnx.registry import converter, supported_ops

__all__ = [
    "NodeContext",
    "NodeError",
    "OnnxFormatError",
    "OnnxImportError",
    "OnnxImporter",
    "UnsupportedNode",
    "converter",
    "import_onnx",
    "supported_ops",
]
