"""Window pooling (max and average) over 1-D, 2-D and 3-D windows: one output element per lane.

The window is small and static, so its loops unroll in the source: each tap is a masked load (a
padded position is skipped for max, and counted or not for average as ``count_include_pad`` says).
Elementwise ops before the pool apply to each tap (a dequantize), those after it to the result (a
quantize), when their other operands are scalar constants.
"""

from __future__ import annotations

import itertools
from typing import Any

from tritium.codegen.float_math import fmax
from tritium.codegen.indexing import Unsupported
from tritium.codegen.lowering import finish_source
from tritium.codegen.pointwise import ir_comment, kernel_name, lower_elementwise, namer
from tritium.codegen.triton_env import pdl_kwargs
from tritium.ir.dialects.kernel import Fused, Yield
from tritium.ir.dialects.nn.constant import Constant
from tritium.ir.types import TensorType

BLOCK = 256


class PoolKernel:
    kind = "pool"

    def __init__(self, fused: Fused) -> None:
        self.fused = fused
        every = [op for op in fused.body.block.ops if not isinstance(op, Yield)]
        pools = [op for op in every if op.name in ("nn.max_pool", "nn.average_pool")]
        if len(pools) != 1 or len(fused.body.block.args) != 1:
            raise Unsupported("not a single pool of one input (elementwise ops around it take constants)")
        p = self.op = pools[0]
        at = every.index(p)
        self.prologue, self.epilogue = every[:at], every[at + 1 :]  # constants included: inlined
        pooled = {p.results[0]} | {r for op in self.epilogue for r in op.results}
        for op in self.epilogue:  # on the pooled value only (the input at this position is not loaded)
            if any(v not in pooled and not isinstance(v.defining_op, Constant) for v in op.operands):
                raise Unsupported("an op after the pool reads a value other than the pooled one")
        for op in self.prologue:  # a chain from the input to the pool: applied to each tap
            if not isinstance(op, Constant) and any(
                u is not p and u not in self.prologue for u in op.results[0].users
            ):
                raise Unsupported("a value before the pool is used after it")
        if p.name == "nn.max_pool" and p.results[1].uses:
            raise Unsupported("max-pool indices run on the host")
        x, out = p.operand(0).type, p.results[0].type
        if not (
            isinstance(x, TensorType)
            and x.is_static
            and x.rank in (3, 4, 5)
            and isinstance(out, TensorType)
            and out.is_static
        ):
            raise Unsupported("pooling needs static shapes with 1 to 3 spatial dims")
        results = [v.type for v in fused.yield_op().values]
        if len(results) != 1 or getattr(results[0], "shape", None) != out.shape:
            raise Unsupported("only the pooled output (or what the epilogue makes of it) may be used")
        self.x_shape, self.out_shape = tuple(x.shape), tuple(out.shape)  # type: ignore[arg-type]
        self.name = kernel_name(fused)
        self.source = self._generate()
        self._fn: Any = None

    def _generate(self) -> str:
        p = self.op
        channels_last = p.attributes.get("layout") == "NHWC"
        if channels_last:
            n, *sp, c = self.x_shape
            osp = list(self.out_shape[1:-1])
        else:
            n, c, *sp = self.x_shape
            osp = list(self.out_shape[2:])
        r = len(sp)  # spatial dims: 1, 2 or 3
        ks, st, dil = p.attributes["kernel_shape"], p.attributes["strides"], p.attributes["dilations"]
        begins, ends = p.attributes["pads"][:r], p.attributes["pads"][r:]
        is_max = p.name == "nn.max_pool"
        o = [f"o{d}" for d in range(r)]  # output position, per spatial dim
        i = [f"i{d}" for d in range(r)]  # input position of the current tap
        names: dict = {}
        reserved = {
            "tl",
            "triton",
            "pid",
            "offs",
            "mask",
            "acc",
            "cnt",
            "ok",
            "res",
            "base",
            "val",
            "cc",
        }
        fresh = namer(names, reserved | set(o) | set(i) | {f"h{d}" for d in range(r)})
        names[self.fused.body.block.args[0]] = "val"
        tap = ["    " + ln for ln in lower_elementwise(self.prologue, names, fresh, p)]
        tapped = names[p.operand(0)]

        def prod(xs: list[int]) -> int:
            out = 1
            for x in xs:
                out *= x
            return out

        inner = c if channels_last else 1  # elements between neighbouring positions of the last dim
        wide = max(n * c * prod(osp), n * c * prod(sp)) + 4096 >= 2**31  # else 32-bit index arithmetic
        lines = [
            "    pid = tl.program_id(0)",
            f"    offs = pid{'.to(tl.int64)' if wide else ''} * BLOCK + tl.arange(0, BLOCK)",
            f"    mask = offs < {n * c * prod(osp)}",
        ]
        if channels_last:  # consecutive lanes are consecutive channels (coalesced loads)
            lines.append(f"    cc = offs % {c}")
        lines += [f"    {o[d]} = (offs // {inner * prod(osp[d + 1 :])}) % {osp[d]}" for d in range(r)]
        if channels_last:
            lines.append(f"    base = (offs // {c * prod(osp)}) * {c * prod(sp)} + cc")
        else:
            lines.append(f"    base = (offs // {prod(osp)}) * {prod(sp)}")
        lines += [
            "    acc = tl.full([BLOCK], float('-inf'), tl.float32)"
            if is_max
            else "    acc = tl.zeros([BLOCK], tl.float32)",
            "    cnt = tl.zeros([BLOCK], tl.float32)",
        ]
        for taps in itertools.product(*(range(k) for k in ks)):
            inside = " & ".join(f"({i[d]} >= 0) & ({i[d]} < {sp[d]})" for d in range(r))
            position = " + ".join(f"{i[d]} * {inner * prod(sp[d + 1 :])}" for d in range(r))
            lines += [f"    {i[d]} = {o[d]} * {st[d]} + {taps[d] * dil[d] - begins[d]}" for d in range(r)]
            lines += [
                f"    ok = mask & {inside}",
                f"    val = tl.load(in0_ptr + base + {position}, mask=ok, other=0).to(tl.float32)",
                *tap,
            ]
            if is_max:
                lines.append(f"    acc = tl.where(ok, {fmax('acc', tapped)}, acc)")  # (NaN kept)
            else:
                lines += [f"    acc += tl.where(ok, {tapped}, 0.0)", "    cnt += tl.where(ok, 1.0, 0.0)"]
        if is_max:
            lines.append("    res = acc")
        elif p.attributes.get("count_include_pad"):
            # the window clipped to the padded input counts (ceil_mode windows may run past it)
            for d in range(r):
                start = f"{o[d]} * {st[d]} - {begins[d]}"
                lines.append(
                    f"    h{d} = tl.minimum({start} + {(ks[d] - 1) * dil[d] + 1}, {sp[d] + ends[d]}) - ({start})"
                )
            count = " * ".join(f"((h{d} + {dil[d] - 1}) // {dil[d]})" for d in range(r))
            lines.append(f"    res = acc / ({count}).to(tl.float32)")
        else:
            lines.append("    res = acc / tl.maximum(cnt, 1.0)")
        names[p.results[0]] = "res"
        lines += ["    " + ln for ln in lower_elementwise(self.epilogue, names, fresh, p)]
        result = names[self.fused.yield_op().values[0]]
        lines.append(f"    tl.store(out0_ptr + offs, {result}.to(out0_ptr.dtype.element_ty), mask=mask)")
        header = [
            f"# Tritium pooling kernel '{self.name}', generated from:",
            ir_comment(self.fused),
            "import triton",
            "import triton.language as tl",
            "",
            "",
            "@triton.jit",
            f"def {self.name}(in0_ptr, out0_ptr, BLOCK: tl.constexpr):",
        ]
        return finish_source("\n".join(header + lines) + "\n")

    def config_space(self, level: int) -> list[dict[str, int]]:
        return [{"BLOCK": b, "num_warps": 4} for b in (256, 512, 1024)][: max(1, level)]

    def __call__(self, inputs: list[Any], outputs: list[Any], config: dict[str, int] | None = None) -> None:
        if self._fn is None:
            from tritium.codegen.triton_env import load_source

            self._fn = getattr(load_source(self.source, self.name), self.name)
        block = (config or {}).get("BLOCK", BLOCK)
        total = 1
        for d in self.out_shape:
            total *= d
        grid = (max(1, -(-total // block)),)
        self._fn[grid](
            inputs[0],
            outputs[0],
            BLOCK=block,
            num_warps=(config or {}).get("num_warps", 4),
            **pdl_kwargs(grid),
        )
