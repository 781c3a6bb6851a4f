"""The GEMM template against the reference: odd sizes, batch folding and broadcasting, epilogues."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tritium.ir as ir
from tritium.codegen import MatmulKernel, kernel_for
from tritium.passes import PassManager


def ty(shape: tuple[int, ...], dt: str = "f32") -> str:
    return "tensor<" + "".join(f"{d}x" for d in shape) + dt + ">"


def run(
    text: str, rng: np.random.Generator, np_dt=np.float32
) -> tuple[list[np.ndarray], list[np.ndarray], MatmulKernel]:
    module, ref = ir.parse_ir(text), ir.parse_ir(text)
    PassManager("fuse-kernels,dce").run(module)
    fused = next(op for op in module.main.block.ops if op.name == "kernel.fused")
    kernel = kernel_for(fused)
    assert isinstance(kernel, MatmulKernel), ir.print_ir(module)
    inputs = [(rng.standard_normal(a.type.shape) / 4).astype(np_dt) for a in module.main.args]
    want = ir.run_reference(ref, inputs)
    env = dict(zip(module.main.args, (torch.from_numpy(x) for x in inputs)))
    outs = [torch.empty(r.type.shape, dtype=torch.from_numpy(want[0]).dtype) for r in fused.results]
    kernel([env[v] for v in fused.operands], outs)
    return [o.numpy() for o in outs], want, kernel


def rel(a: np.ndarray, b: np.ndarray) -> float:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return float(np.linalg.norm(a64 - b64) / max(np.linalg.norm(b64), 1e-30))


@pytest.mark.parametrize("m,n,k", [(33, 17, 45), (1, 64, 8), (64, 1, 70), (5, 7, 3)])
def test_plain(m: int, n: int, k: int, rng: np.random.Generator) -> None:
    text = f"""func.func @main(%a: {ty((m, k))}, %b: {ty((k, n))}) -> {ty((m, n))} {{
  %y = nn.matmul %a, %b : ({ty((m, k))}, {ty((k, n))}) -> {ty((m, n))}
  func.return %y : {ty((m, n))}
}}"""
    got, want, _ = run(text, rng)
    assert rel(got[0], want[0]) < 1e-5


def test_fold_batch_with_bias_gelu_like_epilogue_and_residual(rng: np.random.Generator) -> None:
    s = (2, 9, 24)
    text = f"""func.func @main(%x: {ty(s)}, %w: {ty((24, 40))}, %b: {ty((40,))}, %r: {ty((2, 9, 40))}) -> {ty((2, 9, 40))} {{
  %y = nn.matmul %x, %w : ({ty(s)}, {ty((24, 40))}) -> {ty((2, 9, 40))}
  %z = nn.add %y, %b : ({ty((2, 9, 40))}, {ty((40,))}) -> {ty((2, 9, 40))}
  %t = nn.tanh %z : {ty((2, 9, 40))}
  %o = nn.add %t, %r : {ty((2, 9, 40))}
  func.return %o : {ty((2, 9, 40))}
}}"""
    got, want, kernel = run(text, rng)
    assert kernel.fold and "batch folded into M" in kernel.source
    assert rel(got[0], want[0]) < 1e-5


def test_batched_with_broadcast_batch_dims(rng: np.random.Generator) -> None:
    a, b, o = (2, 3, 7, 16), (1, 3, 16, 5), (2, 3, 7, 5)
    text = f"""func.func @main(%a: {ty(a)}, %b: {ty(b)}, %s: {ty((2, 1, 1, 5))}) -> {ty(o)} {{
  %y = nn.matmul %a, %b : ({ty(a)}, {ty(b)}) -> {ty(o)}
  %z = nn.mul %y, %s : ({ty(o)}, {ty((2, 1, 1, 5))}) -> {ty(o)}
  func.return %z : {ty(o)}
}}"""
    got, want, kernel = run(text, rng)
    assert not kernel.fold
    assert rel(got[0], want[0]) < 1e-5


def test_half_precision(rng: np.random.Generator) -> None:
    text = f"""func.func @main(%a: {ty((20, 48), "f16")}, %b: {ty((48, 24), "f16")}) -> {ty((20, 24), "f16")} {{
  %y = nn.matmul %a, %b : ({ty((20, 48), "f16")}, {ty((48, 24), "f16")}) -> {ty((20, 24), "f16")}
  %r = nn.relu %y : {ty((20, 24), "f16")}
  func.return %r : {ty((20, 24), "f16")}
}}"""
    got, want, _ = run(text, rng, np.float16)
    assert rel(got[0], want[0]) < 1e-2
