"""The fusion pass's grouping rules beyond the text tests: cycle refusal, and semantics."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import tritium.ir as ir
from tritium.passes import PassManager
from tritium.passes.fuse_kernels import Grouping

TEXT = """func.func @main(%x: tensor<4x4xf32>) -> tensor<4x4xf32> {
  %a = nn.exp %x : tensor<4x4xf32>
  %t = nn.transpose %a {perm = [1, 0]} : (tensor<4x4xf32>) -> tensor<4x4xf32>
  %s = nn.add %a, %t : tensor<4x4xf32>
  func.return %s : tensor<4x4xf32>
}"""


def test_cycle_check_sees_paths_through_other_groups() -> None:
    m = ir.parse_ir(TEXT)
    g = Grouping(m.main.block)
    ops = {op.name: g.group_of[op] for op in m.main.block.ops if op in g.group_of}
    exp_g, tr_g, add_g = ops["nn.exp"], ops["nn.transpose"], ops["nn.add"]
    # exp -> transpose -> add: merging exp and add directly would put the transpose between them.
    assert g.would_cycle(exp_g, add_g)
    assert not g.would_cycle(tr_g, add_g)


def test_fused_module_computes_the_same(rng: np.random.Generator) -> None:
    text = (Path(__file__).parent.parent / "filecheck" / "passes" / "fuse-kernels.tir").read_text()
    before, after = ir.parse_ir(text), ir.parse_ir(text)
    PassManager("fuse-kernels,dce").run(after)
    assert all(
        op.name in ("kernel.fused", "nn.constant", "func.return", "func.func")
        for f in after.functions
        for op in f.block.ops
    )
    for f in before.functions:
        args = [rng.standard_normal([d for d in a.type.shape]).astype(a.type.dtype.np_dtype) for a in f.args]
        want = ir.Interpreter(before).run(args, f)
        got = ir.Interpreter(after).run(args, after.lookup(f.sym_name))
        for w, x in zip(want, got):  # (float16 functions: the same ops on the same values)
            np.testing.assert_allclose(x, w, rtol=1e-6)


def _kernels(text: str) -> list[list[str]]:
    """The ops (nn names) of each kernel fuse-kernels makes of ``text``."""
    m = ir.parse_ir(text)
    PassManager("fuse-kernels,dce").run(m)
    return [
        [o.name for o in op.body.block.ops if o.name not in ("nn.constant", "kernel.yield")]
        for op in m.main.block.ops
        if op.name == "kernel.fused"
    ]


def test_extra_outputs_join_only_norms_and_softmax_and_only_left_over_groups() -> None:
    """A reduction's result read by others too: an elementwise group of plain arithmetic on it alone
    joins a norm or softmax as a second output; a reduce_mean keeps its output shape (the mul, then
    an add of the full-size input, stays apart), and a mul that is the next softmax's prologue stays
    that."""
    t, r = "tensor<4x8xf32>", "tensor<4x1xf32>"
    mean = f"""func.func @main(%x: {t}) -> ({t}, {t}) {{
  %ax = nn.constant dense<[1]> : tensor<1xi64>
  %m = nn.reduce_mean %x, %ax {{keepdims = true}} : ({t}, tensor<1xi64>) -> {r}
  %d = nn.sub %x, %m : ({t}, {r}) -> {t}
  %two = nn.constant dense<2.0> : tensor<f32>
  %m2 = nn.mul %m, %two : ({r}, tensor<f32>) -> {r}
  %y = nn.add %m2, %x : ({r}, {t}) -> {t}
  func.return %d, %y : {t}, {t}
}}"""
    assert ["nn.reduce_mean"] in _kernels(mean)
    softmax = f"""func.func @main(%x: {t}, %b: {t}) -> ({t}, {t}) {{
  %s = nn.softmax %x {{axis = -1}} : {t}
  %a = nn.add %s, %b : {t}
  %three = nn.constant dense<3.0> : tensor<f32>
  %m = nn.mul %s, %three : ({t}, tensor<f32>) -> {t}
  %s2 = nn.softmax %m {{axis = -1}} : {t}
  func.return %a, %s2 : {t}, {t}
}}"""
    assert ["nn.mul", "nn.softmax"] in _kernels(softmax) and ["nn.softmax"] in _kernels(softmax)
    quantize = softmax.replace("%s2 = nn.softmax %m {axis = -1} : " + t, "%s2 = nn.relu %m : " + t)
    assert ["nn.softmax", "nn.mul", "nn.relu"] in _kernels(quantize)
