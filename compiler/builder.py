"""TensorRT's Builder (the network-creation part; building engines arrives with the runtime)."""

from __future__ import annotations

import enum

from tritium.logger import Logger
from tritium.network import INetworkDefinition


class NetworkDefinitionCreationFlag(enum.IntEnum):
    EXPLICIT_BATCH = 0  # always on, as in TensorRT 10
    STRONGLY_TYPED = 1


class Builder:
    def __init__(self, logger: Logger) -> None:
        self.logger = logger

    def create_network(self, flags: int = 0) -> INetworkDefinition:
        return INetworkDefinition(flags)
