"""Builder, Rewriter, use-lists, listeners and the mutation counter."""

from __future__ import annotations

import pytest

import tritium.ir as ir
from tritium.ir.dialects import nn

TEXT = """func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  %a = nn.relu %x : tensor<4xf32>
  %b = nn.exp %a : tensor<4xf32>
  %c = nn.add %a, %b : tensor<4xf32>
  func.return %c : tensor<4xf32>
}"""


class Recorder(ir.Listener):
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def on_inserted(self, op):  # type: ignore[no-untyped-def]
        self.events.append(("inserted", op.name))

    def on_erased(self, op):  # type: ignore[no-untyped-def]
        self.events.append(("erased", op.name))

    def on_modified(self, op):  # type: ignore[no-untyped-def]
        self.events.append(("modified", op.name))

    def on_replaced(self, op, new_values):  # type: ignore[no-untyped-def]
        self.events.append(("replaced", op.name))


def ops_of(module):
    return {op.name: op for op in module.walk()}


def test_use_lists_follow_operands() -> None:
    m = ir.parse_ir(TEXT)
    ops = ops_of(m)
    a = ops["nn.relu"].out
    assert [u.op.name for u in a.uses] == ["nn.exp", "nn.add"]
    assert a.users == [ops["nn.exp"], ops["nn.add"]]


def test_replace_op_rewires_uses_and_notifies() -> None:
    m = ir.parse_ir(TEXT)
    ops = ops_of(m)
    rec = Recorder()
    rw = ir.Rewriter(listeners=[rec])
    before = ir.mutation_count()
    new = rw.replace_op_with(ops["nn.exp"], nn.Tanh, ops["nn.relu"].out)
    assert ir.mutation_count() > before
    assert ops["nn.add"].rhs is new.out
    assert new.out.name_hint == "b"  # inherited from the replaced result
    assert rec.events == [
        ("inserted", "nn.tanh"),
        ("replaced", "nn.exp"),
        ("modified", "nn.add"),
        ("erased", "nn.exp"),
    ]
    ir.verify(m)
    assert "%b = nn.tanh %a" in ir.print_ir(m)


def test_erase_op_with_uses_is_refused() -> None:
    m = ir.parse_ir(TEXT)
    with pytest.raises(ValueError, match="still used by 'nn.exp' op"):
        ir.Rewriter().erase_op(ops_of(m)["nn.relu"])
    ir.verify(m)


def test_insertion_points() -> None:
    m = ir.parse_ir(TEXT)
    ops = ops_of(m)
    rw = ir.Rewriter()
    with rw.at(after=ops["nn.relu"]):
        neg = rw.create(nn.Neg, ops["nn.relu"].out)
    assert ops["nn.relu"].next_op is neg and neg.next_op is ops["nn.exp"]
    rw.move_before(neg, ops["nn.relu"])
    with pytest.raises(ir.VerifyError, match="does not dominate"):
        ir.verify(m)
    rw.move_after(neg, ops["nn.add"])
    rw.erase_op(neg)
    ir.verify(m)
    assert len(m.main.block) == 4


def test_set_operand_and_attrs_bump_mutations() -> None:
    m = ir.parse_ir(TEXT)
    ops = ops_of(m)
    rw = ir.Rewriter()
    n = ir.mutation_count()
    rw.set_operand(ops["nn.add"], 1, ops["nn.relu"].out)
    assert ir.mutation_count() > n
    assert len(ops["nn.exp"].out.uses) == 0 and len(ops["nn.relu"].out.uses) == 3
    n = ir.mutation_count()
    rw.set_attr(ops["nn.add"], "note", "x")
    assert ir.mutation_count() > n


def test_build_errors_name_the_op() -> None:
    m = ir.parse_ir(TEXT)
    x = m.main.args[0]
    with pytest.raises(TypeError, match="nn.transpose.build: unknown operand or attribute 'prem'"):
        nn.Transpose.build(x, prem=(0,))
    with pytest.raises(ValueError, match="'nn.transpose' attribute 'perm': expected an array"):
        nn.Transpose.build(x, perm=3)
