"""TensorRT's OnnxParser: parse a model into a network and report every failing node.

parser = tritium.OnnxParser(network, logger)
if not parser.parse_from_file("model.onnx"):
    for i in range(parser.num_errors):
        print(parser.get_error(i))
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass

from tritium.ir.diagnostics import TritiumError
from tritium.logger import Logger
from tritium.network import INetworkDefinition


class ErrorCode(enum.IntEnum):
    SUCCESS = 0
    INTERNAL_ERROR = 1
    MEM_ALLOC_FAILED = 2
    MODEL_DESERIALIZE_FAILED = 3
    INVALID_VALUE = 4
    INVALID_GRAPH = 5
    INVALID_NODE = 6
    UNSUPPORTED_GRAPH = 7
    UNSUPPORTED_NODE = 8


@dataclass(frozen=True)
class ParserError:
    """One error: TensorRT's IParserError accessors over node index, name, operator and reason."""

    _code: ErrorCode
    _desc: str
    _node: int = -1
    _node_name: str = ""
    _node_operator: str = ""
    _file: str = ""

    def code(self) -> ErrorCode:
        return self._code

    def desc(self) -> str:
        return self._desc

    def node(self) -> int:
        return self._node

    def node_name(self) -> str:
        return self._node_name

    def node_operator(self) -> str:
        return self._node_operator

    def file(self) -> str:
        return self._file

    def __str__(self) -> str:
        where = f"node {self._node} '{self._node_name}' ({self._node_operator}): " if self._node >= 0 else ""
        return f"{self._file + ': ' if self._file else ''}{where}{self._desc}"


class OnnxParser:
    def __init__(self, network: INetworkDefinition, logger: Logger) -> None:
        self.network = network
        self.logger = logger
        self._errors: list[ParserError] = []

    @property
    def num_errors(self) -> int:
        return len(self._errors)

    def get_error(self, index: int) -> ParserError:
        return self._errors[index]

    def clear_errors(self) -> None:
        self._errors.clear()

    def parse(self, model: bytes, path: str | None = None) -> bool:
        """Parse serialized ONNX bytes into the network. False (with errors recorded) on failure."""
        return self._parse(model, path or "")

    def parse_from_file(self, path: str | os.PathLike) -> bool:
        return self._parse(os.fspath(path), os.fspath(path))

    def supports_operator(self, op_type: str) -> bool:
        from tritium.frontends.onnx.registry import supported_ops

        return op_type in supported_ops()

    def _parse(self, model: bytes | str, file: str) -> bool:
        from tritium.frontends.onnx import OnnxFormatError, OnnxImportError, import_onnx

        self._errors.clear()
        try:
            module = import_onnx(model, self.network.name)
        except OnnxImportError as e:
            for err in e.errors:
                self._errors.append(
                    ParserError(
                        ErrorCode.UNSUPPORTED_NODE,
                        err.reason,
                        err.node_index,
                        err.node_name,
                        err.op_type,
                        file,
                    )
                )
        except OnnxFormatError as e:
            self._errors.append(ParserError(ErrorCode.MODEL_DESERIALIZE_FAILED, str(e), _file=file))
        except TritiumError as e:
            self._errors.append(ParserError(ErrorCode.INVALID_GRAPH, str(e), _file=file))
        if self._errors:
            for err in self._errors:
                self.logger.error(str(err))
            return False
        self.network._replace_module(module)
        self.logger.info(f"parsed {file or 'model'}: {self.network.num_layers} layers")
        return True
