"""dce: dead code elimination."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tritium.ir.core import Block
from tritium.ir.opdef import Pure, Terminator
from tritium.ir.rewriter import Rewriter
from tritium.passes.base import Pass, register_pass


@register_pass
@dataclass(frozen=True)
class DCE(Pass):
    """Erase ops whose results are unused and that have no side effects.

    Requires: valid IR. Guarantees: no pure op without uses remains, in any block (one backward sweep
    per block suffices, since an op's users come after it). Weights that only dead constants used are
    dropped from the module's resource table.
    """

    name = "dce"

    def run(self, module: Any) -> dict[str, int]:
        rw = Rewriter()
        erased = 0
        blocks: list[Block] = [b for op in module.walk() for r in op.regions for b in r.blocks]
        for block in reversed(blocks):
            for op in block.ops_reversed():
                if Pure in op.TRAITS and Terminator not in op.TRAITS and not any(r.uses for r in op.results):
                    rw.erase_op(op)
                    erased += 1
        dropped = drop_unused_resources(module)
        return {"ops erased": erased, "weights dropped": dropped}


def drop_unused_resources(module: Any) -> int:
    """Remove resources no nn.constant refers to any more."""
    from tritium.ir.attributes import ResourceRef

    used = {
        op.attributes["value"].name
        for op in module.walk()
        if op.name == "nn.constant" and isinstance(op.attributes.get("value"), ResourceRef)
    }
    dead = [k for k in module.resources if k not in used]
    for k in dead:
        del module.resources[k]
    return len(dead)
