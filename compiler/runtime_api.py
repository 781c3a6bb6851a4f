"""TensorRT's Runtime: deserialize plans into engines."""

from __future__ import annotations

from typing import Any

from tritium.logger import Logger


class Runtime:
    def __init__(self, logger: Logger) -> None:
        self.logger = logger
        self.trust_binaries = False
        """Use compiled kernel binaries carried by plans (only for plans you trust; see tritium.load)."""

    def deserialize_cuda_engine(self, plan: bytes | memoryview) -> Any:
        """An Engine from plan bytes (``engine.serialize()`` / ``build_serialized_network``).

        Raises ``PlanError`` naming the problem for truncated, corrupted, foreign or newer plans.
        """
        from tritium.api import _engine_from_plan
        from tritium.runtime.plan import deserialize_plan

        return _engine_from_plan(deserialize_plan(plan), None, "plan", self.trust_binaries)
