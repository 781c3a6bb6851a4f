"""TensorRT's Refitter: new weights into a built engine, without rebuilding it.

An engine built with ``BuilderFlag.REFIT`` keeps its source graph (weights under their source names:
ONNX initializer names, or ``<layer>.kernel``/``.bias``/``.weights`` for layers built with the
network API). Refitting re-runs the engine's graph pipeline on the source with the new weights —
so folded weights (BatchNorm into conv, lowered precision) are recomputed from their sources — checks
that the optimized graph kept its structure, and swaps the weights in: programs rebuild from the
cached kernels on the next run and contexts re-capture their CUDA graphs. The outputs then equal a
fresh build's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tritium.ir.diagnostics import TritiumError
from tritium.logger import Logger


class RefitError(TritiumError):
    """Weights that do not fit, or an engine that cannot be refit."""


class Refitter:
    def __init__(self, engine: Any, logger: Logger) -> None:
        if getattr(engine, "source", None) is None:
            raise RefitError("the engine is not refittable: build it with BuilderFlag.REFIT")
        self.engine = engine
        self.logger = logger
        self._pending: dict[str, np.ndarray] = {}

    def _source_weights(self) -> dict[str, np.ndarray]:
        return {k: v for k, v in self.engine.source.resources.items() if np.asarray(v).dtype.kind == "f"}

    def get_all_weights(self) -> list[str]:
        """Names of every refittable weight (the float weights of the source graph)."""
        return sorted(self._source_weights())

    def get_all(self) -> list[str]:
        return self.get_all_weights()

    def set_named_weights(self, name: str, weights: Any) -> bool:
        """Stage new values for weight ``name``; a wrong name, shape or dtype raises RefitError."""
        current = self._source_weights().get(name)
        if current is None:
            close = [n for n in self.get_all_weights() if name.split(".")[-1] in n][:5]
            raise RefitError(
                f"the engine has no refittable weight '{name}'" + (f" (similar: {close})" if close else "")
            )
        arr = np.asarray(getattr(weights, "array", weights))
        if arr.dtype != current.dtype:
            if arr.dtype.kind == "f" and np.can_cast(arr.dtype, current.dtype, "same_kind"):
                arr = arr.astype(current.dtype)
            else:
                raise RefitError(f"weight '{name}' is {current.dtype}, got {arr.dtype}")
        if arr.shape != current.shape:
            if arr.size == current.size and arr.ndim == 1:  # TensorRT passes flat Weights
                arr = arr.reshape(current.shape)
            else:
                raise RefitError(f"weight '{name}' has shape {list(current.shape)}, got {list(arr.shape)}")
        self._pending[name] = np.require(arr, requirements="C")  # (a 0-d weight stays 0-d)
        return True

    def get_named_weights(self, name: str) -> np.ndarray:
        w = self._pending.get(name)
        return w if w is not None else self._source_weights()[name]

    def get_missing_weights(self) -> list[str]:
        """Weights that must be set with those already set: the sources folded together with them
        (a BatchNorm's parameters with its conv's weight and bias)."""
        names = set(self._source_weights())
        groups = [g & names for g in _fold_groups(self.engine.module)]
        missing: set[str] = set()
        for g in groups:
            if g & set(self._pending):
                missing |= g - set(self._pending)
        return sorted(missing)

    def get_missing(self) -> list[str]:
        return self.get_missing_weights()

    def refit_cuda_engine(self) -> bool:
        """Apply the staged weights. Raises RefitError (engine unchanged) when weights are missing or
        the graph would change structure."""
        missing = self.get_missing_weights()
        if missing:
            raise RefitError(f"refit needs the weights folded together with those set; missing {missing}")
        from tritium.passes import PassManager
        from tritium.runtime.engine import clone_module

        engine = self.engine
        source = clone_module(engine.source)
        source.resources.update(self._pending)
        module = clone_module(source)
        pipeline = (engine.manifest.get("build") or {}).get("flags", {}).get("pipeline")
        if pipeline:
            PassManager(pipeline).run(module)
        if _structure(module) != _structure(engine.module):
            raise RefitError(
                "with the new weights the optimized graph changes structure (a weight-dependent "
                "simplification fired or stopped firing): rebuild the engine instead"
            )
        engine.source = source
        engine._replace_weights(module)
        self.logger.info(f"refit {len(self._pending)} weights")
        self._pending.clear()
        return True


def _fold_groups(module: Any) -> list[set[str]]:
    groups = []
    for op in module.walk():
        derived = op.attributes.get("derived_from") if op.name == "nn.constant" else None
        if derived:
            groups.append({str(n) for n in derived if n})
    return groups


def _structure(module: Any) -> list[tuple]:
    """The graph without weight values: ops, types, attributes, and constants by name and type only."""
    out = []
    for op in module.walk():
        attrs = dict(op.attributes)
        if op.name == "nn.constant":
            value = attrs.pop("value")
            attrs.pop("derived_from", None)
            attrs["value"] = getattr(value, "name", None)
        out.append((op.name, tuple(str(r.type) for r in op.results), repr(sorted(attrs.items(), key=str))))
    return out
