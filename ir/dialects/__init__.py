"""Dialects: builtin (module), func (functions), nn (graph ops), kernel (fused kernels).

Importing this package registers them all.
"""

from tritium.ir.dialects import builtin, func, kernel, nn

__all__ = ["builtin", "func", "kernel", "nn"]
