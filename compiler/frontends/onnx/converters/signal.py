"""Signal processing: DFT, STFT, HannWindow, HammingWindow, BlackmanWindow, MelWeightMatrix."""

from __future__ import annotations

import numpy as np

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.proto import onnx_dtype
from tritium.frontends.onnx.registry import converter
from tritium.ir.core import Value
from tritium.ir.dialects import nn


@converter("DFT", since=20)
def dft(ctx: NodeContext) -> Value:
    ctx.check_attrs("inverse", "onesided")
    length = ctx.folded_input(1) if ctx.has_input(1) else None
    axis = ctx.folded_input(2) if ctx.has_input(2) else ctx.constant(np.array(-2, np.int64))
    return ctx.value(
        nn.DFT,
        ctx.input(0),
        length,
        axis,
        inverse=bool(ctx.attr("inverse", 0)),
        onesided=bool(ctx.attr("onesided", 0)),
    )


@converter("DFT", since=17)
def dft_v17(ctx: NodeContext) -> Value:
    ctx.check_attrs("axis", "inverse", "onesided")
    length = ctx.folded_input(1) if ctx.has_input(1) else None
    return ctx.value(
        nn.DFT,
        ctx.input(0),
        length,
        ctx.constant(np.array(ctx.attr("axis", 1), np.int64)),
        inverse=bool(ctx.attr("inverse", 0)),
        onesided=bool(ctx.attr("onesided", 0)),
    )


@converter("STFT", since=17)
def stft(ctx: NodeContext) -> Value:
    ctx.check_attrs("onesided")
    return ctx.value(
        nn.STFT,
        ctx.input(0),
        ctx.folded_input(1),
        ctx.opt_input(2),
        ctx.folded_input(3) if ctx.has_input(3) else None,
        onesided=bool(ctx.attr("onesided", 1)),
    )


def _window(cls: type) -> object:
    def convert(ctx: NodeContext) -> Value:
        ctx.check_attrs("output_datatype", "periodic")
        return ctx.value(
            cls,
            ctx.folded_input(0),
            output_datatype=onnx_dtype(ctx.attr("output_datatype", 1), "attribute 'output_datatype'"),
            periodic=bool(ctx.attr("periodic", 1)),
        )

    return convert


converter("HannWindow", since=17)(_window(nn.HannWindow))
converter("HammingWindow", since=17)(_window(nn.HammingWindow))
converter("BlackmanWindow", since=17)(_window(nn.BlackmanWindow))


@converter("MelWeightMatrix", since=17)
def mel_weight_matrix(ctx: NodeContext) -> Value:
    ctx.check_attrs("output_datatype")
    return ctx.value(
        nn.MelWeightMatrix,
        *[ctx.folded_input(i) for i in range(5)],
        output_datatype=onnx_dtype(ctx.attr("output_datatype", 1), "attribute 'output_datatype'"),
    )
