"""The kernel dialect: a fused kernel is one op whose region holds the nn ops it computes.

    %y = kernel.fused %x, %w, %b {kind = "conv"} {
    ^bb0(%a: tensor<1x64x56x56xf32>, %k: tensor<64x64x3x3xf32>, %c: tensor<64xf32>):
      %0 = nn.conv %a, %k, %c {...} : ...
      %1 = nn.relu %0 : ...
      kernel.yield %1 : (tensor<1x64x56x56xf32>) -> ()
    } : (...) -> tensor<1x64x56x56xf32> loc(fused["conv1", "relu1"])

The region is isolated: everything a kernel reads is an operand (weights included, so the memory
planner and the refitter see them); only small inline constants live inside. ``kind`` names the
code-generation template family; ``config`` holds the tuning choice once one is made.
"""

from __future__ import annotations

from typing import Any

from tritium.ir.attributes import ANY, one_of
from tritium.ir.opdef import IsolatedFromAbove, Op, Pure, Terminator, attr, region, var_operand, var_result
from tritium.ir.types import Type

KINDS = ("elementwise", "reduction", "matmul", "conv", "attention", "data_movement", "view", "other")


class Yield(Op):
    """Ends a kernel body, yielding the kernel's results."""

    name = "kernel.yield"
    traits = (Terminator,)
    values = var_operand()

    def infer(self) -> list:
        return []


class Fused(Op):
    """A group of nn ops that becomes one generated kernel (or one host call for ``kind="other"``)."""

    name = "kernel.fused"
    traits = (Pure, IsolatedFromAbove)
    inputs = var_operand()
    outs = var_result()
    body = region()
    kind = attr(one_of(*KINDS))
    config = attr(ANY, default=None, doc="the tuning choice (template parameters), once made")

    def yield_op(self) -> Yield:
        last = self.body.block.last_op if self.body.blocks else None
        if not isinstance(last, Yield):
            self.fail("the kernel body must end with kernel.yield")
        return last  # type: ignore[return-value]

    def infer(self) -> list[Type]:
        return [v.type for v in self.yield_op().values]

    def verify_op(self) -> None:
        if len(self.body.blocks) != 1:
            self.fail(f"the kernel body must have one block, found {len(self.body.blocks)}")
        args = self.body.block.args
        if len(args) != self.num_operands:
            self.fail(f"the body takes {len(args)} arguments for {self.num_operands} operands")
        for i, (a, v) in enumerate(zip(args, self._operands)):
            if a.type != v.type:
                self.fail(f"body argument #{i} has type {a.type} but operand #{i} is {v.type}")

    @property
    def ops(self) -> list[Any]:
        """The nn ops of the body, without the terminator."""
        return [op for op in self.body.block.ops if not isinstance(op, Yield)]

    def evaluate(self, interp: Any, vals: list[Any], env: Any) -> tuple:
        return tuple(interp.run_block(self.body.block, vals))
