"""The demo behind `make demo`: compile a model with Tritium and run it, on the GPU when there is one
and under Triton's CPU interpreter otherwise; print its layers, outputs and timings.

    python examples/demo.py              # a small residual CNN, exported from PyTorch to ONNX
    python examples/demo.py model.onnx   # any ONNX model (random inputs; give static shapes)
"""

from __future__ import annotations

import io
import sys
import time

import numpy as np


def small_cnn_onnx() -> bytes:
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
            self.block = nn.Sequential(
                nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.Conv2d(16, 16, 1)
            )
            self.head = nn.Linear(16, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.stem(x)
            y = torch.relu(y + self.block(y))
            return torch.softmax(self.head(y.mean((2, 3))), -1)

    torch.manual_seed(0)
    net = Net().eval()
    buf = io.BytesIO()
    torch.onnx.export(
        net, (torch.randn(2, 3, 16, 16),), buf, input_names=["image"], output_names=["prob"], dynamo=False
    )
    return buf.getvalue()


def main() -> None:
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    import tritium as tr

    model = sys.argv[1] if len(sys.argv) > 1 else small_cnn_onnx()
    t0 = time.perf_counter()
    engine = tr.compile(model)
    build = time.perf_counter() - t0
    print(f"== built in {build:.2f} s, running on {engine.device} "
          f"({'generated Triton kernels on the GPU' if engine.device.type == 'cuda' else 'generated Triton kernels under the CPU interpreter'}) ==")  # fmt: skip
    rng = np.random.default_rng(0)
    shapes = engine._static_input_shapes()
    if shapes is None:
        sys.exit("the model has dynamic inputs: this demo needs static shapes (see tritium run --shapes)")
    inputs = {}
    for n, s in shapes.items():
        dt = engine.get_tensor_dtype(n).dtype.np_dtype
        inputs[n] = rng.standard_normal(s).astype(dt) if np.issubdtype(dt, np.floating) else np.zeros(s, dt)
    info = engine.inspect(shapes)
    print(f"== {len(info['layers'])} layers, activation memory {info['arena_bytes'] / 1e3:.1f} kB ==")
    for layer in info["layers"]:
        print(
            f"  {layer['name'][:48]:<48} {layer['tactic']:<17} {'+'.join(o.split('.', 1)[-1] for o in layer['fused_ops'])}"
        )
    t0 = time.perf_counter()
    out = engine(inputs)
    first = time.perf_counter() - t0
    reps = 20 if engine.device.type == "cuda" else 3
    t0 = time.perf_counter()
    for _ in range(reps):
        out = engine(inputs)
    if engine.device.type == "cuda":
        import torch

        torch.cuda.synchronize()
    steady = (time.perf_counter() - t0) / reps
    ref = tr.compile(model, backend="reference")(inputs)
    print(f"== first run {1e3 * first:.1f} ms (loads the kernels), then {1e3 * steady:.2f} ms per run ==")
    for name, value in out.items():
        got = np.asarray(value, np.float64)
        err = float(np.abs(got - ref[name]).max() / max(np.abs(ref[name]).max(), 1e-30))
        flat = got.reshape(-1)
        print(
            f"{name} {list(got.shape)}: [{', '.join(f'{v:.4f}' for v in flat[:6])}{', ...' if flat.size > 6 else ''}]"
        )
        print(f"  max relative difference from the numpy reference: {err:.2e}")


if __name__ == "__main__":
    main()
