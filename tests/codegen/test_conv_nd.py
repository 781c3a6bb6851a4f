"""1-D and 3-D (transposed) convolutions and 1-D pooling (the lower-conv-nd pass) run as generated 2-D kernels,
3-D pooling as the pooling kernel's 3-D form: torch modules exported to ONNX, compiled, and compared
with onnxruntime; nothing on the host."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tritium as tr


def compiled_against_onnxruntime(model: torch.nn.Module, shape: tuple[int, ...], tmp_path, rng, fp16=False):
    """(engine, its output, onnxruntime's) for ``model`` with seeded random weights."""
    import onnxruntime as ort

    torch.manual_seed(0)
    for p in model.parameters():
        p.data = torch.randn_like(p) * 0.3
    path = tmp_path / "m.onnx"
    torch.onnx.export(
        model.eval(), (torch.zeros(shape),), str(path), input_names=["x"], output_names=["y"], dynamo=False
    )
    x = rng.standard_normal(shape).astype(np.float32)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    engine = tr.compile(str(path), fp16=fp16)
    assert engine.host_steps({"x": x.shape}) == []
    return engine, engine({"x": x})["y"], want


def kernel_ops(engine, shape) -> list[str]:
    return [o.name for s in engine.program({"x": shape}).steps if s.mode == "kernel" for o in s.op.ops]


@pytest.mark.parametrize(
    "layer",
    [
        torch.nn.Conv1d(6, 8, 5, stride=2, padding=3, dilation=1),
        torch.nn.Conv1d(6, 6, 3, padding=2, dilation=2, groups=3),
        torch.nn.Conv1d(6, 6, 3, padding=1, groups=6),  # depthwise
        torch.nn.ConvTranspose1d(6, 4, 4, stride=2, padding=1),
        torch.nn.MaxPool1d(3, stride=2, padding=1),
        torch.nn.AvgPool1d(3, stride=2, padding=1, count_include_pad=False),
    ],
    ids=["conv", "grouped-dilated", "depthwise", "transposed", "maxpool", "avgpool"],
)
def test_1d_layers_run_as_2d_kernels(layer: torch.nn.Module, tmp_path, rng: np.random.Generator) -> None:
    model = torch.nn.Sequential(layer, torch.nn.ReLU())
    _, got, want = compiled_against_onnxruntime(model, (2, 6, 19), tmp_path, rng)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_1d_conv_with_batch_norm_folds_first(tmp_path, rng: np.random.Generator) -> None:
    """A Conv1d -> BatchNorm1d -> ReLU block (audio and time-series nets): the batch norm folds into
    the convolution before it becomes 2-D, so one kernel runs it all."""
    model = torch.nn.Sequential(torch.nn.Conv1d(4, 8, 3, padding=1), torch.nn.BatchNorm1d(8), torch.nn.ReLU())
    model[1].running_mean.normal_()
    model[1].running_var.uniform_(0.5, 2.0)
    engine, got, want = compiled_against_onnxruntime(model, (2, 4, 16), tmp_path, rng)
    assert "nn.batch_normalization" not in kernel_ops(engine, (2, 4, 16))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "layer",
    [
        torch.nn.Conv3d(3, 5, 3, padding=1),
        torch.nn.Conv3d(4, 6, (3, 2, 3), stride=(2, 1, 2), padding=(1, 0, 1), dilation=(2, 1, 1), groups=2),
        torch.nn.Conv3d(4, 4, (1, 3, 3), padding=(0, 1, 1), groups=4, bias=False),
    ],
    ids=["3x3x3", "strided-dilated-grouped", "depthwise-1x3x3"],
)
def test_3d_convolutions_as_sums_of_2d_kernels(
    layer: torch.nn.Module, tmp_path, rng: np.random.Generator
) -> None:
    """Each depth tap is a generated 2-D convolution adding the running sum in its epilogue."""
    shape = (2, layer.in_channels, 5, 6, 7)
    engine, got, want = compiled_against_onnxruntime(
        torch.nn.Sequential(layer, torch.nn.ReLU()), shape, tmp_path, rng
    )
    taps = layer.kernel_size[0]
    assert kernel_ops(engine, shape).count("nn.conv") == taps
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "layer",
    [
        torch.nn.ConvTranspose3d(4, 3, 2, stride=2),  # a 3-D U-Net's upsampling
        torch.nn.ConvTranspose3d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
        torch.nn.ConvTranspose3d(3, 2, (3, 2, 3), stride=(1, 2, 1), padding=(1, 0, 2), dilation=(2, 1, 1)),
        torch.nn.ConvTranspose3d(3, 2, (2, 3, 3), stride=(3, 1, 2), padding=(1, 1, 0), bias=False),
    ],
    ids=["unet-2x", "padded-grouped", "dilated-depth", "stride-beyond-kernel"],
)
def test_3d_transposed_convolutions_as_sums_of_2d_kernels(
    layer: torch.nn.Module, tmp_path, rng: np.random.Generator
) -> None:
    """Each depth tap is a generated 2-D transposed convolution of every input depth slice; the taps'
    results are spread, shifted and summed by generated kernels: nothing on the host."""
    shape = (2, layer.in_channels, 3, 5, 4)
    engine, got, want = compiled_against_onnxruntime(
        torch.nn.Sequential(layer, torch.nn.ReLU()), shape, tmp_path, rng
    )
    assert kernel_ops(engine, shape).count("nn.conv_transpose") == layer.kernel_size[0]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "layer",
    [
        torch.nn.MaxPool3d(3, stride=2, padding=1),
        torch.nn.MaxPool3d((2, 3, 3), stride=(1, 2, 2), dilation=(2, 1, 1), ceil_mode=True),
        torch.nn.AvgPool3d(3, stride=2, padding=1, count_include_pad=False),
        torch.nn.AvgPool3d((3, 2, 3), stride=2, padding=1, ceil_mode=True, count_include_pad=True),
    ],
    ids=["max", "max-dilated-ceil", "avg", "avg-ceil-counting-pads"],
)
def test_3d_pooling_runs_as_a_generated_kernel(
    layer: torch.nn.Module, tmp_path, rng: np.random.Generator
) -> None:
    """3-D windows (video and volumetric nets) unroll their taps in the pooling kernel, as 2-D ones do;
    the ReLU after the pool joins it as an epilogue."""
    shape = (2, 3, 7, 9, 8)
    engine, got, want = compiled_against_onnxruntime(
        torch.nn.Sequential(layer, torch.nn.ReLU()), shape, tmp_path, rng
    )
    templates = [layer["template"] for layer in engine.inspect({"x": shape})["layers"]]
    assert templates == ["pool"], templates
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_3d_convolution_in_fp16(tmp_path, rng: np.random.Generator) -> None:
    model = torch.nn.Sequential(
        torch.nn.Conv3d(4, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv3d(8, 4, 1)
    )
    _, got, want = compiled_against_onnxruntime(model, (1, 4, 4, 6, 6), tmp_path, rng, fp16=True)
    err = np.abs(got - want).max() / np.abs(want).max()
    assert err < 5e-3, err


class PatchEmbed(torch.nn.Module):
    """A vision transformer's patch embedding: a stride = kernel convolution, then the patches as
    a sequence ([N, C, H, W] -> [N, H * W / P^2, D])."""

    def __init__(self, c: int, d: int, p: tuple[int, int], bias: bool = True) -> None:
        super().__init__()
        self.proj = torch.nn.Conv2d(c, d, p, stride=p, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


@pytest.mark.parametrize(
    "c,d,p,shape,bias",
    [(3, 16, (8, 8), (2, 3, 32, 24), True), (4, 8, (2, 4), (1, 4, 6, 8), False)],
    ids=["vit-like", "rectangular-no-bias"],
)
def test_patch_convolution_runs_as_a_gemm(c, d, p, shape, bias, tmp_path, rng: np.random.Generator) -> None:
    """A convolution whose windows tile the image (stride = kernel, no padding) runs as one GEMM over
    the patches: no convolution kernel, the same values as onnxruntime."""
    engine, got, want = compiled_against_onnxruntime(PatchEmbed(c, d, p, bias), shape, tmp_path, rng)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    ops = kernel_ops(engine, shape)
    assert "nn.matmul" in ops and "nn.conv" not in ops


def test_overlapping_or_padded_windows_stay_convolutions(tmp_path, rng: np.random.Generator) -> None:
    """Stride below the kernel (overlapping windows) or padding: not patches, still a convolution."""
    for layer in (torch.nn.Conv2d(3, 8, 4, stride=2), torch.nn.Conv2d(3, 8, 4, stride=4, padding=1)):
        engine, got, want = compiled_against_onnxruntime(
            torch.nn.Sequential(layer), (1, 3, 16, 16), tmp_path, rng
        )
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
        assert "nn.conv" in kernel_ops(engine, (1, 3, 16, 16))
