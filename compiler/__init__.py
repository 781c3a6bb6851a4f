"""Tritium: a deep-learning inference compiler and runtime (TensorRT's role, Triton as code generator)."""

__version__ = "0.1.0"
