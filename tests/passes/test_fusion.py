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
        args = [rng.standard_normal([d for d in a.type.shape]).astype(np.float32) for a in f.args]
        want = ir.Interpreter(before).run(args, f)
        got = ir.Interpreter(after).run(args, after.lookup(f.sym_name))
        for w, x in zip(want, got):
            np.testing.assert_allclose(x, w, rtol=1e-6)
