"""plan-memory: no two live tensors overlap (checked on random graphs), and reuse happens."""

from __future__ import annotations

import numpy as np

import tritium.ir as ir
from tritium.ir import dtypes as D
from tritium.ir.dialects import nn
from tritium.passes import PassManager
from tritium.passes.plan_memory import plan_function


def random_graph(rng: np.random.Generator, n: int) -> ir.ModuleOp:
    m = ir.ModuleOp.new()
    sizes = [8, 16, 32]
    t0 = ir.tensor((16, 16), D.f32)
    f = ir.FuncOp.new("main", [t0], [], ["x"])
    m.block._insert(f, None)
    b = ir.Builder().set_end(f.block)
    vals: list[ir.Value] = [f.args[0]]
    for _ in range(n):
        a = vals[int(rng.integers(len(vals)))]
        kind = rng.integers(4)
        if kind == 0:
            v = b.create(nn.Exp, a).out
        elif kind == 1:
            other = vals[int(rng.integers(len(vals)))]
            v = b.create(nn.Add, a, other).out if other.type == a.type else b.create(nn.Neg, a).out
        elif kind == 2:
            n_out = sizes[int(rng.integers(3))]
            w = b.insert(nn.Constant.of(np.zeros((a.type.shape[1], n_out), np.float32), m, "w")).out
            v = b.create(nn.MatMul, a, w).out
        else:
            v = b.create(nn.Transpose, a, perm=(1, 0)).out
        vals.append(v)
    outs = [vals[-1], vals[len(vals) // 2]]
    b.create(ir.ReturnOp, outs)
    f.attributes["function_type"] = ir.FunctionType((t0,), tuple(v.type for v in outs))
    return m


def check_plan(plan) -> None:
    bufs = plan.buffers
    for i, a in enumerate(bufs):
        for b in bufs[i + 1 :]:
            live = a.start <= b.end and b.start <= a.end
            overlap = a.offset < b.offset + b.size and b.offset < a.offset + a.size
            if live and overlap:
                in_place = (b.in_place_of is a and b.start == a.end and b.offset == a.offset) or (
                    a.in_place_of is b and a.start == b.end and a.offset == b.offset
                )
                assert in_place, f"{a.value} and {b.value} overlap while both alive"
    assert plan.arena_bytes <= plan.total_bytes


def test_random_graphs_never_overlap(rng: np.random.Generator) -> None:
    for _ in range(30):
        m = random_graph(rng, int(rng.integers(5, 40)))
        PassManager("fuse-kernels,dce").run(m)
        check_plan(plan_function(m.main))


def test_reuse_shrinks_the_arena() -> None:
    """A chain of kernels (matmul, transpose, ...): each intermediate dies at its consumer, so the
    arena holds about two of them, not all (a random graph may leave nothing to reuse)."""
    m = ir.ModuleOp.new()
    t0 = ir.tensor((16, 16), D.f32)
    f = ir.FuncOp.new("main", [t0], [], ["x"])
    m.block._insert(f, None)
    b = ir.Builder().set_end(f.block)
    v = f.args[0]
    for i in range(10):
        w = b.insert(nn.Constant.of(np.eye(16, dtype=np.float32), m, f"w{i}")).out
        v = b.create(nn.Transpose, b.create(nn.MatMul, v, w).out, perm=(1, 0)).out
    b.create(ir.ReturnOp, [v])
    f.attributes["function_type"] = ir.FunctionType((t0,), (v.type,))
    PassManager("fuse-kernels,dce").run(m)
    plan = plan_function(m.main)
    check_plan(plan)
    assert plan.arena_bytes <= plan.total_bytes // 4


def test_dynamic_shapes_are_refused() -> None:
    text = """func.func @main(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %a = nn.exp %x : tensor<?x4xf32>
  %b = nn.neg %a : tensor<?x4xf32>
  func.return %b : tensor<?x4xf32>
}"""
    import pytest

    with pytest.raises(ValueError, match="memory planning needs static shapes"):
        plan_function(ir.parse_ir(text).main)
