"""Tritium: a deep-learning inference compiler and runtime (TensorRT's role, Triton as code generator).

import tritium as tr
engine = tr.compile("model.onnx", backend="reference")
outputs = engine({"input": x})
"""

from tritium.api import compile, load_any

__version__ = "0.1.0"
__all__ = ["__version__", "compile", "load_any"]
