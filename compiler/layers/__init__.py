"""The layers of TensorRT's network-definition API, each a view that builds nn-dialect ops.

A layer keeps its parameters (``conv.stride_nd``, ``shuffle.reshape_dims``, ``act.alpha``, ...) and
emits the ops that implement them. Setting a parameter after ``add_*`` — as TensorRT scripts do —
re-emits the layer in place: its output tensors keep their identity, their consumers see the new
values, and types downstream are re-inferred. A change that does not fit (bad shape, wrong count,
a consumer that no longer accepts the result) raises `NetworkError` naming the layer and leaves the
network as it was.

``base`` holds the machinery (the emitter, parameters, transactional changes) and the view of parsed
ops; the other modules hold the layers by family.
"""

from __future__ import annotations

from tritium.enums import LayerType
from tritium.layers.base import ILayer, NetworkError, ParsedLayer, Weights, _Emitter, as_array, axes_of
from tritium.layers.linalg import (
    _REDUCE,
    IEinsumLayer,
    IMatrixMultiplyLayer,
    INormalizationLayer,
    IReduceLayer,
    ISoftMaxLayer,
    ITopKLayer,
)
from tritium.layers.movement import (
    IConcatenationLayer,
    IConstantLayer,
    IGatherLayer,
    ILRNLayer,
    IPaddingLayer,
    IResizeLayer,
    IShapeLayer,
    IShuffleLayer,
    ISliceLayer,
    ISqueezeLayer,
    IUnsqueezeLayer,
)
from tritium.layers.pointwise import (
    _BINARY,
    _UNARY,
    IActivationLayer,
    ICastLayer,
    IElementWiseLayer,
    IIdentityLayer,
    IParametricReLULayer,
    IScaleLayer,
    ISelectLayer,
    IUnaryLayer,
)
from tritium.layers.quant import IDequantizeLayer, IPluginV2Layer, IQuantizeLayer
from tritium.layers.window import IConvolutionLayer, IDeconvolutionLayer, IPoolingLayer


def _parsed_types() -> dict[str, LayerType]:
    T = LayerType
    table = {
        "nn.conv": T.CONVOLUTION,
        "nn.conv_transpose": T.DECONVOLUTION,
        "nn.matmul": T.MATRIX_MULTIPLY,
        "nn.gemm": T.MATRIX_MULTIPLY,
        "nn.max_pool": T.POOLING,
        "nn.average_pool": T.POOLING,
        "nn.global_average_pool": T.POOLING,
        "nn.global_max_pool": T.POOLING,
        "nn.softmax": T.SOFTMAX,
        "nn.concat": T.CONCATENATION,
        "nn.transpose": T.SHUFFLE,
        "nn.reshape": T.SHUFFLE,
        "nn.flatten": T.SHUFFLE,
        "nn.slice": T.SLICE,
        "nn.gather": T.GATHER,
        "nn.gather_elements": T.GATHER,
        "nn.where": T.SELECT,
        "nn.constant": T.CONSTANT,
        "nn.cast": T.CAST,
        "nn.pad": T.PADDING,
        "nn.resize": T.RESIZE,
        "nn.top_k": T.TOPK,
        "nn.shape": T.SHAPE,
        "nn.einsum": T.EINSUM,
        "nn.prelu": T.PARAMETRIC_RELU,
        "nn.lrn": T.LRN,
        "nn.squeeze": T.SQUEEZE,
        "nn.unsqueeze": T.UNSQUEEZE,
        "nn.layer_normalization": T.NORMALIZATION,
        "nn.group_normalization": T.NORMALIZATION,
        "nn.instance_normalization": T.NORMALIZATION,
        "nn.plugin": T.PLUGIN_V2,
        "quant.quantize_linear": T.QUANTIZE,
        "quant.dequantize_linear": T.DEQUANTIZE,
    }
    for cls in _BINARY.values():
        table[cls.name] = T.ELEMENTWISE
    for cls in _UNARY.values():
        table[cls.name] = T.UNARY
    for cls in _REDUCE.values():
        table[cls.name] = T.REDUCE
    for n in (
        "relu",
        "sigmoid",
        "tanh",
        "leaky_relu",
        "elu",
        "selu",
        "softsign",
        "softplus",
        "clip",
        "hard_sigmoid",
        "thresholded_relu",
        "gelu",
        "celu",
        "mish",
        "hard_swish",
    ):
        table["nn." + n] = T.ACTIVATION
    return table


PARSED_TYPES = _parsed_types()
"""The layer type TensorRT would report for each op a parser produced."""


__all__ = [
    "IActivationLayer",
    "ICastLayer",
    "IConcatenationLayer",
    "IConstantLayer",
    "IConvolutionLayer",
    "IDeconvolutionLayer",
    "IDequantizeLayer",
    "IEinsumLayer",
    "IElementWiseLayer",
    "IGatherLayer",
    "IIdentityLayer",
    "ILRNLayer",
    "ILayer",
    "IMatrixMultiplyLayer",
    "INormalizationLayer",
    "IPaddingLayer",
    "IParametricReLULayer",
    "IPluginV2Layer",
    "IPoolingLayer",
    "IQuantizeLayer",
    "IReduceLayer",
    "IResizeLayer",
    "IScaleLayer",
    "ISelectLayer",
    "IShapeLayer",
    "IShuffleLayer",
    "ISliceLayer",
    "ISoftMaxLayer",
    "ISqueezeLayer",
    "ITopKLayer",
    "IUnaryLayer",
    "IUnsqueezeLayer",
    "NetworkError",
    "PARSED_TYPES",
    "ParsedLayer",
    "Weights",
    "_Emitter",
    "as_array",
    "axes_of",
]
