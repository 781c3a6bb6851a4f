"""Kernels that return their results (a library call that allocates them, as cuDNN's fused
convolutions do, ``codegen/conv_library.py``): the runtime takes them in place of the planned
buffers, and copies into a buffer only where its place matters (a buffer of the caller's). On the
CPU the library forms compute torch's float32 sums."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

import tritium as tr


class Block(torch.nn.Module):
    """A ResNet basic block: conv, BN, ReLU; conv, BN, the residual sum, ReLU."""

    def __init__(self) -> None:
        super().__init__()
        self.c1, self.b1 = torch.nn.Conv2d(16, 16, 3, padding=1, bias=False), torch.nn.BatchNorm2d(16)
        self.c2, self.b2 = torch.nn.Conv2d(16, 16, 3, padding=1, bias=False), torch.nn.BatchNorm2d(16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.b2(self.c2(torch.relu(self.b1(self.c1(x))))) + x)


SHAPE = (2, 16, 8, 8)


@pytest.fixture
def engine() -> tr.Engine:
    torch.manual_seed(0)
    model = Block().eval()
    for bn in (model.b1, model.b2):
        (
            bn.running_mean.uniform_(-0.5, 0.5),
            bn.running_var.uniform_(0.5, 2.0),
            bn.weight.data.uniform_(0.5, 1.5),
        )
    f = io.BytesIO()
    torch.onnx.export(model, (torch.zeros(SHAPE),), f, input_names=["x"], output_names=["y"], dynamo=False)
    return tr.compile(f.getvalue(), fp16=True)


def library_steps(engine: tr.Engine) -> list:
    """The steps whose cuDNN tactic is a fused form, set to run it."""
    steps = [s for s in engine.program({"x": SHAPE}).steps if getattr(s.kernel, "library_form", None)]
    for s in steps:
        s.config = s.kernel.library_config()
    return steps


class Spy:
    """A step's kernel, recording the data pointers it reads and the tensors it returns."""

    def __init__(self, kernel) -> None:
        self.kernel, self.read, self.returned = kernel, [], []

    def __getattr__(self, name: str):
        return getattr(self.kernel, name)

    def __call__(self, inputs, outputs, config=None):
        self.read += [t.data_ptr() for t in inputs]
        produced = self.kernel(inputs, outputs, config)
        self.returned += list(produced or [])
        return produced


def test_engine_takes_the_library_results(engine: tr.Engine, rng: np.random.Generator) -> None:
    x = rng.standard_normal(SHAPE).astype(np.float32)
    generated = np.asarray(engine({"x": x})["y"], dtype=np.float32)
    first, second = library_steps(engine)
    assert (first.kernel.library_form, second.kernel.library_form) == ("relu", "add_relu")
    first.kernel, second.kernel = Spy(first.kernel), Spy(second.kernel)
    y = np.asarray(engine({"x": x})["y"], dtype=np.float32)
    np.testing.assert_allclose(y, generated, rtol=0, atol=4e-3 * np.abs(generated).max())
    (taken,) = first.kernel.returned  # the second convolution read the tensor the first returned
    assert taken.data_ptr() in second.kernel.read and len(second.kernel.returned) == 1


def test_a_callers_buffer_gets_a_copy(engine: tr.Engine, rng: np.random.Generator) -> None:
    x = rng.standard_normal(SHAPE).astype(np.float32)
    generated = np.asarray(engine({"x": x})["y"], dtype=np.float32)
    first = library_steps(engine)[0]
    prog = engine.program({"x": SHAPE})
    v = first.outputs[0]  # the first convolution's output, bound to a buffer of the caller's
    buf = torch.full(tuple(v.type.shape), float("nan"), dtype=torch.float16)
    arena = torch.empty(prog.arena_bytes, dtype=torch.uint8)
    got = prog.run(arena, {prog.func.args[0]: torch.from_numpy(x)}, {v: buf})
    y = np.asarray(next(iter(got.values())), dtype=np.float32)
    assert bool(torch.isfinite(buf).all()) and bool((buf >= 0).all())  # the ReLU's output, copied in
    np.testing.assert_allclose(y, generated, rtol=0, atol=4e-3 * np.abs(generated).max())
