"""Convolution, deconvolution and pooling layers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tritium.enums import (
    LayerType,
    PaddingMode,
    PoolingType,
)
from tritium.ir.core import Value
from tritium.ir.dialects import nn
from tritium.layers.base import ILayer, NetworkError, _Emitter, as_array, param


def _spatial_pads(
    layer: ILayer, x: Value, kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int]
) -> tuple[int, ...]:
    """ONNX-style pads (begins then ends) from the layer's padding parameters."""
    n = len(kernel)
    p = layer._params
    pre = list(p.get("pre_padding") or p.get("padding_nd") or (0,) * n)
    post = list(p.get("post_padding") or p.get("padding_nd") or (0,) * n)
    mode = PaddingMode(p.get("padding_mode", PaddingMode.EXPLICIT_ROUND_DOWN))
    if mode == PaddingMode.EXPLICIT_ROUND_DOWN:
        return tuple(pre + post)
    shape = x.type.shape[-n:]  # type: ignore[attr-defined, index]
    if not all(isinstance(d, int) for d in shape):
        raise NetworkError(
            f"layer '{layer.name}': padding mode {mode.name} needs static spatial dimensions, found {list(shape)}"
        )
    for i in range(n):
        eff = (kernel[i] - 1) * dilations[i] + 1
        if mode == PaddingMode.EXPLICIT_ROUND_UP:
            span = shape[i] + pre[i] + post[i] - eff
            post[i] += (-span) % strides[i]
        else:
            out = -(-shape[i] // strides[i])
            total = max((out - 1) * strides[i] + eff - shape[i], 0)
            small, big = total // 2, total - total // 2
            pre[i], post[i] = (small, big) if mode == PaddingMode.SAME_UPPER else (big, small)
    return tuple(pre + post)


class IConvolutionLayer(ILayer):
    type = LayerType.CONVOLUTION
    num_output_maps = param("num_output_maps")
    kernel_size_nd = param("kernel_size_nd")
    kernel = param("kernel")
    bias = param("bias")
    stride_nd = param("stride_nd")
    padding_nd = param("padding_nd")
    pre_padding = param("pre_padding")
    post_padding = param("post_padding")
    padding_mode = param("padding_mode")
    dilation_nd = param("dilation_nd")
    num_groups = param("num_groups")

    transpose = False

    def _max_inputs(self) -> int:
        return 3

    def _emit(self, e: _Emitter) -> list[Value]:
        p = self._params
        x = self._input(0)
        rank = self._rank(x)
        k = tuple(int(s) for s in p["kernel_size_nd"])
        n = len(k)
        if rank != n + 2:
            raise e.fail(f"a {n}-D kernel needs a rank-{n + 2} input (N, C, spatial...), found {x.type}")
        maps = int(p["num_output_maps"])
        cin = x.type.shape[1]  # type: ignore[attr-defined, index]
        groups = p.get("num_groups")
        kern = as_array(p["kernel"])
        if groups is None and kern is not None and isinstance(cin, int):
            # Not set yet: implied by the kernel's size (scripts often set num_groups after add_*).
            full = maps * cin * int(np.prod(k))
            groups = full // kern.size if kern.size and full % kern.size == 0 else 1
        groups = int(groups or 1)
        w_in = self._inputs[1] if len(self._inputs) > 1 else None
        if w_in is not None:
            w = w_in.value
        else:
            if kern is None:
                raise e.fail("has no kernel weights")
            if not isinstance(cin, int):
                raise e.fail("the input's channel dimension must be static to shape the kernel")
            shape = (cin, maps // groups, *k) if self.transpose else (maps, cin // groups, *k)
            if kern.size != int(np.prod(shape)):
                raise e.fail(
                    f"kernel weights have {kern.size} values, expected {int(np.prod(shape))} for shape {list(shape)}"
                )
            w = e.weight(kern.reshape(shape).astype(np.float32, copy=False), "kernel")
        b_in = self._inputs[2] if len(self._inputs) > 2 else None
        bias = as_array(p.get("bias"))
        b = None
        if b_in is not None:
            b = b_in.value
        elif bias is not None:
            if bias.size != maps:
                raise e.fail(f"bias weights have {bias.size} values, expected {maps} (num_output_maps)")
            b = e.weight(bias.reshape(maps).astype(np.float32, copy=False), "bias")
        strides = tuple(p.get("stride_nd") or (1,) * n)
        dilations = tuple(p.get("dilation_nd") or (1,) * n)
        pads = _spatial_pads(self, x, k, strides, dilations)
        if self.transpose:
            return [
                e.value(
                    nn.ConvTranspose,
                    x,
                    w,
                    b,
                    strides=strides,
                    pads=pads,
                    dilations=dilations,
                    output_padding=(0,) * n,
                    group=groups,
                )
            ]
        return [e.value(nn.Conv, x, w, b, strides=strides, pads=pads, dilations=dilations, group=groups)]


class IDeconvolutionLayer(IConvolutionLayer):
    type = LayerType.DECONVOLUTION
    transpose = True


class IPoolingLayer(ILayer):
    type = LayerType.POOLING
    pooling_type = param("type")
    window_size_nd = param("window_size_nd")
    stride_nd = param("stride_nd")
    padding_nd = param("padding_nd")
    pre_padding = param("pre_padding")
    post_padding = param("post_padding")
    padding_mode = param("padding_mode")
    average_count_excludes_padding = param("average_count_excludes_padding")
    blend_factor = param("blend_factor")

    def _emit(self, e: _Emitter) -> list[Value]:
        p = self._params
        x = self._input(0)
        k = tuple(int(s) for s in p["window_size_nd"])
        n = len(k)
        strides = tuple(p.get("stride_nd") or k)
        pads = _spatial_pads(self, x, k, strides, (1,) * n)
        common = {"kernel_shape": k, "strides": strides, "pads": pads, "dilations": (1,) * n}
        kind = PoolingType(p["type"])
        mx = av = None
        if kind in (PoolingType.MAX, PoolingType.MAX_AVERAGE_BLEND):
            mx = e.value(nn.MaxPool, x, **common)
        if kind in (PoolingType.AVERAGE, PoolingType.MAX_AVERAGE_BLEND):
            av = e.value(
                nn.AveragePool,
                x,
                count_include_pad=not p.get("average_count_excludes_padding", True),
                **common,
            )
        if kind == PoolingType.MAX:
            return [mx]  # type: ignore[list-item]
        if kind == PoolingType.AVERAGE:
            return [av]  # type: ignore[list-item]
        f = float(p.get("blend_factor") or 0.0)  # TensorRT: (1 - blend) * max + blend * average
        a = e.value(nn.Mul, mx, e.scalar_like(x, 1 - f))
        c = e.value(nn.Mul, av, e.scalar_like(x, f))
        return [e.value(nn.Add, a, c)]
