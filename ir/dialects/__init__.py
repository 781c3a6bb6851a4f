"""Dialects: builtin (module), func (functions), nn (graph ops). Importing this registers them all."""

from tritium.ir.dialects import builtin, func, nn

__all__ = ["builtin", "func", "nn"]
