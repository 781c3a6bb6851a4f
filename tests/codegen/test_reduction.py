"""Generated row kernels (reductions over trailing axes) and column kernels (over a block of axes
followed by kept ones), with prologues and epilogues, against the reference semantics, under
Triton's interpreter."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tritium.ir as ir
from tritium.codegen import ColumnKernel, RowKernel, kernel_for
from tritium.passes import PassManager


def ty(shape: tuple[int, ...], dt: str = "f32") -> str:
    return "tensor<" + "".join(f"{d}x" for d in shape) + dt + ">"


def run_module(module: ir.ModuleOp, inputs: list[np.ndarray], config: dict | None = None) -> list[np.ndarray]:
    env = {a: torch.from_numpy(x) for a, x in zip(module.main.args, inputs)}
    for op in module.main.block.ops:
        if op.name == "nn.constant":
            env[op.out] = torch.from_numpy(np.array(op.value_array()))
        if op.name != "kernel.fused":
            continue
        k = kernel_for(op)
        assert isinstance(k, (RowKernel, ColumnKernel)), f"no reduction kernel for {op}"
        outs = [torch.empty(r.type.shape, dtype=torch.float32) for r in op.results]
        k([env[v].contiguous() for v in op.operands], outs, config)
        env.update(zip(op.results, outs))
    return [env[v].numpy() for v in module.main.return_op.operands]


def check(text: str, rng: np.random.Generator) -> None:
    module, ref = ir.parse_ir(text), ir.parse_ir(text)
    PassManager("fuse-kernels,dce").run(module)
    inputs = [rng.standard_normal(a.type.shape).astype(np.float32) for a in module.main.args]
    want = ir.run_reference(ref, inputs)
    got = run_module(module, inputs)
    for g, w in zip(got, want):
        err = np.linalg.norm(g - w) / max(np.linalg.norm(w), 1e-30)
        assert err < 1e-5, (err, text)


@pytest.mark.parametrize("shape", [(3, 7), (2, 3, 130), (1, 4097), (5, 1)])
def test_softmax_with_prologue_and_epilogue(shape: tuple[int, ...], rng: np.random.Generator) -> None:
    n = shape[-1]
    text = f"""func.func @main(%x: {ty(shape)}, %b: {ty((n,))}) -> {ty(shape)} {{
  %y = nn.add %x, %b : ({ty(shape)}, {ty((n,))}) -> {ty(shape)}
  %s = nn.softmax %y {{axis = -1}} : {ty(shape)}
  %h = nn.constant dense<0.5> : tensor<f32>
  %t = nn.mul %s, %h : ({ty(shape)}, tensor<f32>) -> {ty(shape)}
  func.return %t : {ty(shape)}
}}"""
    check(text, rng)


@pytest.mark.parametrize("op", ["nn.reduce_sum", "nn.reduce_mean", "nn.reduce_max", "nn.reduce_min"])
@pytest.mark.parametrize("keepdims", [True, False])
def test_reductions_over_trailing_axes(op: str, keepdims: bool, rng: np.random.Generator) -> None:
    shape = (3, 4, 5, 6)
    out = (3, 4, 1, 1) if keepdims else (3, 4)
    kd = "true" if keepdims else "false"
    text = f"""func.func @main(%x: {ty(shape)}, %c: {ty(out)}) -> {ty(out)} {{
  %e = nn.tanh %x : {ty(shape)}
  %ax = nn.constant dense<[2, 3]> : tensor<2xi64>
  %r = {op} %e, %ax {{keepdims = {kd}}} : ({ty(shape)}, tensor<2xi64>) -> {ty(out)}
  %q = nn.add %r, %c : {ty(out)}
  func.return %q : {ty(out)}
}}"""
    check(text, rng)


@pytest.mark.parametrize("op", ["nn.reduce_sum", "nn.reduce_mean", "nn.reduce_max", "nn.reduce_l2"])
@pytest.mark.parametrize("keepdims", [True, False])
@pytest.mark.parametrize(("shape", "axes"), [((3, 4, 5, 70), [1, 2]), ((37, 3), [0]), ((2, 9, 3, 5), [1])])
def test_column_reductions(
    op: str, keepdims: bool, shape: tuple[int, ...], axes: list[int], rng: np.random.Generator
) -> None:
    """Global pooling of a channels-last tensor and its relatives: a per-channel prologue (scale,
    tanh) and an epilogue reading a tensor of the result's shape; sizes off the block sizes."""
    out = tuple(1 if d in axes else n for d, n in enumerate(shape) if keepdims or d not in axes)
    kd = "true" if keepdims else "false"
    c = shape[-1]
    text = f"""func.func @main(%x: {ty(shape)}, %s: {ty((c,))}, %b: {ty(out)}) -> {ty(out)} {{
  %m = nn.mul %x, %s : ({ty(shape)}, {ty((c,))}) -> {ty(shape)}
  %e = nn.tanh %m : {ty(shape)}
  %ax = nn.constant dense<{axes}> : tensor<{len(axes)}xi64>
  %r = {op} %e, %ax {{keepdims = {kd}}} : ({ty(shape)}, tensor<{len(axes)}xi64>) -> {ty(out)}
  %q = nn.add %r, %b : {ty(out)}
  func.return %q : {ty(out)}
}}"""
    module = ir.parse_ir(text)
    PassManager("fuse-kernels,dce").run(module)
    fused = next(op for op in module.main.block.ops if op.name == "kernel.fused")
    assert isinstance(kernel_for(fused), ColumnKernel)
    check(text, rng)


def test_scattered_axes_have_no_generated_kernel() -> None:
    text = """func.func @main(%x: tensor<3x4x5xf32>) -> tensor<1x4x1xf32> {
  %ax = nn.constant dense<[0, 2]> : tensor<2xi64>
  %r = nn.reduce_sum %x, %ax : (tensor<3x4x5xf32>, tensor<2xi64>) -> tensor<1x4x1xf32>
  func.return %r : tensor<1x4x1xf32>
}"""
    module = ir.parse_ir(text)
    PassManager("fuse-kernels,dce").run(module)
    fused = next(op for op in module.main.block.ops if op.name == "kernel.fused")
    assert kernel_for(fused) is None


@pytest.mark.parametrize("rows_per_program", [1, 2, 4, 16])
def test_rows_per_program(rows_per_program: int, rng: np.random.Generator) -> None:
    """A row that fits one block: ROWS rows per program, the last program partly past the end (15
    rows), for a per-element result (layer norm with a residual-style prologue) and a per-row one
    (mean with a per-row epilogue input)."""
    s, w, r = (3, 5, 40), (40,), (3, 5, 1)
    text = f"""func.func @main(%x: {ty(s)}, %y: {ty(s)}, %g: {ty(w)}, %b: {ty(w)}, %z: {ty(r)}) -> ({ty(s)}, {ty(r)}) {{
  %a = nn.add %x, %y : {ty(s)}
  %n, %m, %v = nn.layer_normalization %a, %g, %b {{axis = -1, epsilon = 1e-5}} : ({ty(s)}, {ty(w)}, {ty(w)}) -> ({ty(s)}, {ty(r)}, {ty(r)})
  %axes = nn.constant dense<[2]> : tensor<1xi64>
  %e = nn.reduce_mean %x, %axes {{keepdims = 1}} : ({ty(s)}, tensor<1xi64>) -> {ty(r)}
  %f = nn.mul %e, %z : {ty(r)}
  func.return %n, %f : {ty(s)}, {ty(r)}
}}"""
    module, ref = ir.parse_ir(text), ir.parse_ir(text)
    PassManager("fuse-kernels,dce").run(module)
    kernels = [kernel_for(op) for op in module.main.block.ops if op.name == "kernel.fused"]
    assert len(kernels) == 2 and all(isinstance(k, RowKernel) and k.single for k in kernels)
    assert all("ROWS: tl.constexpr" in k.source for k in kernels)
    inputs = [rng.standard_normal(a.type.shape).astype(np.float32) for a in module.main.args]
    want = ir.run_reference(ref, inputs)
    got = run_module(module, inputs, {"BLOCK": 64, "ROWS": rows_per_program})
    for g, w_ in zip(got, want):
        np.testing.assert_allclose(g, w_, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n", [40, 4097])
def test_scalar_and_per_row_epilogue_inputs(n: int, rng: np.random.Generator) -> None:
    """Epilogue inputs that are one value (loaded unmasked) or one value per row, after a per-element
    result (softmax) and a per-row one (mean); rows in one block (40) and swept in chunks (4097)."""
    s, r = (3, n), (3, 1)
    text = f"""func.func @main(%x: {ty(s)}, %z: {ty(())}, %w: {ty(r)}) -> ({ty(s)}, {ty(r)}) {{
  %p = nn.softmax %x {{axis = -1}} : {ty(s)}
  %q = nn.mul %p, %z : ({ty(s)}, {ty(())}) -> {ty(s)}
  %o = nn.mul %q, %w : ({ty(s)}, {ty(r)}) -> {ty(s)}
  %axes = nn.constant dense<[1]> : tensor<1xi64>
  %e = nn.reduce_mean %x, %axes {{keepdims = 1}} : ({ty(s)}, tensor<1xi64>) -> {ty(r)}
  %f = nn.mul %e, %z : ({ty(r)}, {ty(())}) -> {ty(r)}
  func.return %o, %f : {ty(s)}, {ty(r)}
}}"""
    check(text, rng)
