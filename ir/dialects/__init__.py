"""Dialects: builtin (module), func (functions), nn (graph ops), kernel (fused kernels), quant
(quantization).

Importing this package registers them all.
"""

from tritium.ir.dialects import builtin, func, kernel, nn, quant

__all__ = ["builtin", "func", "kernel", "nn", "quant"]
