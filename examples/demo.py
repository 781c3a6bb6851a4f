"""The demo behind `make demo`: build a small CNN in Tritium's IR, optimize it, run it, print it all.

It uses the builder API directly; once a model file is given (`python examples/demo.py model.onnx`)
it compiles that instead (see the README for the frontends that exist).
"""

from __future__ import annotations

import sys
import time

import numpy as np

import tritium.ir as ir
from tritium.ir import dtypes as D
from tritium.ir.dialects import nn
from tritium.passes import PassManager


def small_cnn(rng: np.random.Generator) -> ir.ModuleOp:
    """conv3x3 -> relu -> conv1x1 (+ residual) -> global mean -> flatten -> linear -> softmax."""
    m = ir.ModuleOp.new("small_cnn")
    x_t = ir.tensor(("batch", 3, 16, 16), D.f32)
    f = ir.FuncOp.new("main", [x_t], [], ["image"])
    m.block._insert(f, None)
    b = ir.Builder().set_end(f.block)

    def weight(name: str, *shape: int) -> ir.Value:
        w = (rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))).astype(np.float32)
        c = b.insert(nn.Constant.of(w, m, name, loc=name.split(".")[0]))
        c.out.name_hint = name
        return c.out

    x = f.args[0]
    y = b.create(
        nn.Conv,
        x,
        weight("conv1.weight", 8, 3, 3, 3),
        weight("conv1.bias", 8),
        strides=(1, 1),
        pads=(1, 1, 1, 1),
        dilations=(1, 1),
        loc="conv1",
    ).out
    y = b.create(nn.Relu, y, loc="relu1").out
    z = b.create(
        nn.Conv,
        y,
        weight("conv2.weight", 8, 8, 1, 1),
        strides=(1, 1),
        pads=(0, 0, 0, 0),
        dilations=(1, 1),
        loc="conv2",
    ).out
    one = b.insert(nn.Constant.of(np.ones((1,), np.float32), loc="scale")).out
    z = b.create(nn.Mul, z, one, loc="scale").out  # a no-op the optimizer removes
    y = b.create(nn.Add, y, z, loc="residual").out
    axes = b.insert(nn.Constant.of(np.array([2, 3]), loc="pool")).out
    y = b.create(nn.ReduceMean, y, axes, keepdims=False, loc="pool").out
    y = b.create(nn.MatMul, y, weight("fc.weight", 8, 10), loc="fc").out
    y = b.create(nn.Softmax, y, axis=-1, loc="prob").out
    y.name_hint = "prob"
    b.create(ir.ReturnOp, [y])
    f.attributes["function_type"] = ir.FunctionType((x_t,), (y.type,))
    f.attributes["output_names"] = ("prob",)
    ir.verify(m)
    return m


def main() -> None:
    if len(sys.argv) > 1:
        sys.exit("model files are read by the ONNX frontend, which this build does not have yet")
    rng = np.random.default_rng(0)
    module = small_cnn(rng)
    print("== IR as built ==")
    print(ir.print_ir(module))
    t0 = time.perf_counter()
    report = PassManager("canonicalize,cse,fold-constants,dce").run(module)
    print(f"== after canonicalize,cse,fold-constants,dce ({1e3 * (time.perf_counter() - t0):.1f} ms) ==")
    print(ir.print_ir(module))
    print(report.statistics())
    image = rng.standard_normal((2, 3, 16, 16)).astype(np.float32)
    t0 = time.perf_counter()
    (prob,) = ir.run_reference(module, [image])
    dt = time.perf_counter() - t0
    print(f"\n== reference run on the CPU (numpy), batch 2: {1e3 * dt:.1f} ms ==")
    print("prob[0] =", np.array2string(prob[0], precision=4))
    print("top-1   =", prob.argmax(-1).tolist(), " row sums =", prob.sum(-1).round(6).tolist())
    print("\nGPU execution arrives with the Triton backend (see README status table).")


if __name__ == "__main__":
    main()
