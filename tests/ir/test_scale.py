"""Printing, parsing and verifying a 10,000-op module stay fast (issue 2: under 1 s each here)."""

from __future__ import annotations

import time

import numpy as np

import tritium.ir as ir
from tritium.ir import dtypes as D
from tritium.ir.dialects import nn


def big_module(n_ops: int) -> ir.ModuleOp:
    m = ir.ModuleOp.new("big")
    t = ir.tensor(("batch", 128, 768), D.f32)
    f = ir.FuncOp.new("main", [t], [], ["x"])
    m.block._insert(f, None)
    b = ir.Builder().set_end(f.block)
    x = f.args[0]
    w = b.insert(nn.Constant.of(np.zeros((768, 768), np.float32), m, "w")).out
    for i in range(n_ops // 4):
        y = b.create(nn.MatMul, x, w, loc=f"layer{i}/MatMul").out
        y.name_hint = f"layer{i}.mm"
        z = b.create(nn.Add, y, x, loc=f"layer{i}/Add").out
        r = b.create(nn.Relu, z, loc=f"layer{i}/Relu").out
        x = b.create(nn.Softmax, r, axis=-1, loc=f"layer{i}/Softmax").out
    b.create(ir.ReturnOp, [x])
    f.attributes["function_type"] = ir.FunctionType((t,), (x.type,))
    return m


def best_of(n: int, fn) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def test_ten_thousand_ops() -> None:
    m = big_module(10_000)
    assert sum(1 for _ in m.walk()) >= 10_000
    text = ir.print_ir(m)
    t_print = best_of(2, lambda: ir.print_ir(m))
    t_parse = best_of(2, lambda: ir.parse_ir(text))
    parsed = ir.parse_ir(text)
    t_verify = best_of(2, lambda: ir.verify(parsed))
    print(f"10k ops: print {t_print:.3f}s parse {t_parse:.3f}s verify {t_verify:.3f}s")
    assert ir.print_ir(parsed) == text
    # Issue 2 asks for < 1 s each on the development machine; CI machines get 2x slack.
    assert t_print < 2.0 and t_parse < 2.0 and t_verify < 2.0, (t_print, t_parse, t_verify)
