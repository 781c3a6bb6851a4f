"""Flash attention: softmax(scale * q kT + mask) v without materializing the score matrix.

One program owns BLOCK_M queries of one (batch, head) and sweeps the keys in BLOCK_N tiles, keeping
a running row maximum and normalizer (the online softmax) and a float32 accumulator of the output;
the score tile lives only in registers. Masks (additive float, or boolean) broadcast over batch,
heads and queries through zero strides; causal masking skips the tiles above the diagonal. Grouped
and multi-query attention map query head h to key/value head h // (Hq / Hkv). A row whose keys are
all masked gives zeros, as nn.attention defines. An elementwise epilogue with scalar constants (the
quantize of an FP8 network's attention output: ``x / s`` cast to e4m3) runs on the output tile
before its one store.
"""

from __future__ import annotations

from typing import Any

from tritium.codegen.float_math import fmax
from tritium.codegen.indexing import Unsupported
from tritium.codegen.lowering import finish_source, storage_type
from tritium.codegen.pointwise import ir_comment, kernel_name, lower_elementwise, namer
from tritium.codegen.triton_env import constexpr_sizes, pdl_kwargs
from tritium.ir.core import Value
from tritium.ir.dialects.kernel import Fused, Yield
from tritium.ir.dialects.nn.constant import Constant
from tritium.ir.types import TensorType
from tritium.passes.fusion_policy import classify

INTERPRETER_CONFIG = {"BLOCK_M": 16, "BLOCK_N": 16, "num_warps": 4, "num_stages": 1}


_TEMPLATE_NAMES = {"out", "acc", "b", "h", "hk", "bh", "rm", "rd", "rdv", "rn", "q", "kt", "vt", "s", "p"}
_TEMPLATE_NAMES |= {"m_i", "l_i", "m_new", "m_safe", "alpha", "end", "full", "start", "valid", "keep", "bias"}
"""The kernel's own variables (``_generate``, ``_key_block``), which an epilogue's never shadow."""


def _pow2(n: int) -> int:
    return 1 << max(4, (int(n) - 1).bit_length())


class AttentionKernel:
    kind = "flash_attention"
    strided_inputs = True
    """q, k, v and the mask are addressed by their strides (copied when the last axis is strided): a head
    split (transpose) in front of the kernel is a view, not a copy."""

    def __init__(self, fused: Fused) -> None:
        self.fused = fused
        ops = [op for op in fused.body.block.ops if not isinstance(op, (Yield, Constant))]
        if not ops or ops[0].name != "nn.attention":
            raise Unsupported("not an attention op")
        att = self.att = ops[0]
        self.epilogue = [op for op in fused.body.block.ops if op is not att and not isinstance(op, Yield)]
        inside = {att.results[0], *(r for op in self.epilogue for r in op.results)}
        if any(classify(op) != "elementwise" for op in ops[1:]) or any(
            v not in inside for op in ops[1:] for v in op.operands
        ):
            raise Unsupported("an attention epilogue reading more than the output and scalar constants")
        a = att.attributes
        if a.get("softcap", 0.0) or a.get("left_window_size", -1) >= 0 or a.get("right_window_size", -1) >= 0:
            raise Unsupported("softcap and sliding windows run on the host")
        if att.past_key is not None or att.nonpad_kv_seqlen is not None:  # type: ignore[attr-defined]
            raise Unsupported("KV caches run on the host")
        yields = list(fused.yield_op().values)
        if any(r.uses for r in att.results[1:]) or len(yields) != 1:
            raise Unsupported("only the attention output may be used")
        if getattr(yields[0].type, "shape", None) != att.results[0].type.shape:  # type: ignore[attr-defined]
            raise Unsupported("an attention epilogue that changes the output's shape")
        self.result = yields[0]
        args = list(fused.body.block.args)
        for v in (att.q, att.k, att.v):  # type: ignore[attr-defined]
            if v not in args:
                raise Unsupported("attention operands computed inside the kernel")
        q, k, v = (x.type for x in (att.q, att.k, att.v))  # type: ignore[attr-defined]
        for t in (q, k, v):
            if not isinstance(t, TensorType) or not t.is_static or t.rank != 4:
                raise Unsupported("attention needs static 4-D q, k, v")
        self.dtype = q.dtype
        self.d, self.dv = q.shape[3], v.shape[3]
        self.mask = att.attn_mask  # type: ignore[attr-defined]
        if self.mask is not None and self.mask not in args:
            raise Unsupported("a mask computed inside the kernel")
        self.bool_mask = self.mask is not None and self.mask.type.dtype.kind == "bool"  # type: ignore[attr-defined]
        mshape = getattr(self.mask.type, "shape", None) if self.mask is not None else None
        self.mask_row = mshape is not None and (len(mshape) < 2 or mshape[-2] == 1)
        """The mask is one row of keys for every query (BERT's padding mask): loaded once per key
        tile as a row, not as a [BLOCK_M, BLOCK_N] tile of repeated loads."""
        self.causal = bool(a.get("is_causal", False))
        scale = a.get("scale")
        self.scale = float(scale) if scale is not None else 1.0 / (self.d**0.5)
        self.index = {name: args.index(val) for name, val in (("q", att.q), ("k", att.k), ("v", att.v))}  # type: ignore[attr-defined]
        if self.mask is not None:
            self.index["mask"] = args.index(self.mask)
        self.n_args = len(args)
        self.name = kernel_name(fused)
        self.source = self._generate()
        self._fn: Any = None

    def _generate(self) -> str:
        i = self.index
        dot_prec = ', input_precision="ieee"' if self.dtype.name in ("f32", "f64") else ""
        sizes = ["H", "HKV", "SQ", "SK"]  # (always static: the template takes static operands only)
        if constexpr_sizes("attention"):
            sizes = [f"{n}: tl.constexpr" for n in sizes]
        params = [f"in{j}_ptr" for j in range(self.n_args)] + [
            "out0_ptr",
            *sizes,
            "sq_b",
            "sq_h",
            "sq_s",
            "sk_b",
            "sk_h",
            "sk_s",
            "sv_b",
            "sv_h",
            "sv_s",
            "sm_b",
            "sm_h",
            "sm_q",
            "sm_k",
            "so_b",
            "so_h",
            "so_s",
        ]
        q, k, v = f"in{i['q']}_ptr", f"in{i['k']}_ptr", f"in{i['v']}_ptr"
        epilogue, result = self._epilogue(params)
        lines = [
            "    pid_m = tl.program_id(0)",
            "    bh = tl.program_id(1)",
            "    b = bh // H",
            "    h = bh % H",
            "    hk = h // (H // HKV)",
            "    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)",
            "    rd = tl.arange(0, BLOCK_D)",
            "    rdv = tl.arange(0, BLOCK_DV)",
            f"    q = tl.load({q} + b * sq_b + h * sq_h + rm[:, None] * sq_s + rd[None, :],"
            f" mask=(rm[:, None] < SQ) & (rd[None, :] < {self.d}), other=0.0)",
            "    m_i = tl.full([BLOCK_M], float('-inf'), tl.float32)",
            "    l_i = tl.zeros([BLOCK_M], tl.float32)",
            "    acc = tl.zeros([BLOCK_M, BLOCK_DV], tl.float32)",
            "    end = SK",
            "    if CAUSAL:  # keys after the last query of this block are masked for all of it",
            "        end = tl.minimum(SK, (pid_m + 1) * BLOCK_M)",
            "    # whole key blocks that every query of the block sees: no bounds or causal masks there",
            "    full = (end // BLOCK_N) * BLOCK_N",
            "    if CAUSAL:",
            "        full = tl.minimum(full, (pid_m * BLOCK_M) // BLOCK_N * BLOCK_N)",
            "    for start in range(0, full, BLOCK_N):",
            *self._key_block(q, k, v, dot_prec, masked=False),
            "    for start in range(full, end, BLOCK_N):",
            *self._key_block(q, k, v, dot_prec, masked=True),
            # zeros for a row with no key (all masked); NaN, not 0, for a row made NaN by its inputs
            "    out = tl.where(l_i[:, None] == 0, 0.0, acc / tl.where(l_i[:, None] == 0, 1.0, l_i[:, None]))",
            *epilogue,
            "    tl.store(out0_ptr + b * so_b + h * so_h + rm[:, None] * so_s + rdv[None, :],"
            f" {result}.to(out0_ptr.dtype.element_ty),"
            f" mask=(rm[:, None] < SQ) & (rdv[None, :] < {self.dv}))",
        ]
        self.params = params
        header = [
            f"# Tritium flash-attention kernel '{self.name}', generated from:",
            ir_comment(self.fused),
            "import triton",
            "import triton.language as tl",
            "",
            "",
            "@triton.jit",
            f"def {self.name}({', '.join(params)}, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, "
            "BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr, CAUSAL: tl.constexpr):",
        ]
        return finish_source("\n".join(header + lines) + "\n")

    def _epilogue(self, params: list[str]) -> tuple[list[str], str]:
        """The epilogue's lines on the output tile ``out`` (rounded to the attention's type first, so
        that a quantize after it rounds exactly as the reference's does), indented one level, and
        the variable holding the kernel's result."""
        names: dict[Value, str] = {self.att.results[0]: "out"}
        fresh = namer(names, _TEMPLATE_NAMES | {p.split(":")[0] for p in params})
        lines = lower_elementwise(self.epilogue, names, fresh, self.att)
        if lines and self.dtype.name in ("f16", "bf16"):  # the output as nn.attention rounds it first
            lines.insert(0, f"out = out.to({storage_type(self.dtype)}).to(tl.float32)")
        return ["    " + ln for ln in lines], names[self.result]

    def _key_block(self, q: str, k: str, v: str, dot_prec: str, masked: bool) -> list[str]:
        """The loop body over one tile of BLOCK_N keys (indented two levels). Scores are kept in base 2
        (scale * log2(e) in one multiply, exp2 for exp). An additive mask joins the scaling in one
        fma; one row of keys (BERT's padding mask) is converted to base 2 once per tile, float32's
        lowest value clamped to stay finite (a row masked so everywhere stays uniform) and -inf kept
        (such a row gives zeros). A per-query mask stays in natural units (its conversion would cost
        two instructions per score). With the register caps of ``config_space``, BERT's masked
        attention went 0.0121 -> 0.0104 ms on an H200. (Folding the scale into the subtraction of
        the row maximum, one fma per score where there is no mask, did not pay: it took registers.)
        ``masked``: the tile may reach past the keys or the queries, or cross the causal
        diagonal; an unmasked tile (every other) computes no bounds masks, and loads without them
        where the head size is a power of two."""
        additive = self.mask is not None and not self.bool_mask
        natural = additive and not self.mask_row  # a per-query additive mask: scores in natural units
        base = 1.0 if natural else 1.4426950408889634
        c = repr(self.scale * base)
        d_ok = "" if self.d == _pow2(self.d) else f"rd[:, None] < {self.d}"
        dv_ok = "" if self.dv == _pow2(self.dv) else f"rdv[None, :] < {self.dv}"

        def both(*conds: str) -> str:
            present = [c for c in conds if c]
            return " & ".join(f"({c})" for c in present) if len(present) > 1 else "".join(present)

        k_mask = both("rn[None, :] < SK", d_ok) if masked else d_ok
        v_mask = both("rn[:, None] < SK", dv_ok) if masked else dv_ok
        lines = [
            "        rn = start + tl.arange(0, BLOCK_N)",
            f"        kt = tl.load({k} + b * sk_b + hk * sk_h + rn[None, :] * sk_s + rd[:, None]"
            + (f", mask={k_mask}, other=0.0)" if k_mask else ")"),
            f"        s = tl.dot(q, kt{dot_prec})",
        ]
        if masked:
            lines += [
                "        valid = (rm[:, None] < SQ) & (rn[None, :] < SK)",
                "        if CAUSAL:",
                "            valid = valid & (rn[None, :] <= rm[:, None])",
            ]
        if self.mask is not None:
            i = self.index
            rows = "" if self.mask_row else "rm[:, None] * sm_q + "
            mp = f"in{i['mask']}_ptr + b * sm_b + h * sm_h + {rows}rn[None, :] * sm_k"
            in_bounds = "valid" if masked else "rm[:, None] < SQ"
            if self.mask_row:  # one row for all queries: keys in range are all it needs
                in_bounds = "rn[None, :] < SK" if masked else ""
            bounds = f", mask={in_bounds}" if in_bounds else ""
            if self.bool_mask:
                lines.append(f"        keep = tl.load({mp}{bounds}{', other=0' if bounds else ''})")
                lines.append("        valid = valid & (keep != 0)" if masked else "        valid = keep != 0")
            else:
                other = ", other=0.0" if bounds else ""
                lines.append(f"        bias = tl.load({mp}{bounds}{other}).to(tl.float32)")
                if not natural:
                    lines.append(
                        "        bias = tl.where(bias == float('-inf'), bias,"
                        f" {fmax('bias * 1.4426950408889634', '-3.4028234663852886e38')})"
                    )
                lines.append(f"        s = tl.fma(s, {c}, bias)")
        if not additive:
            lines.append(f"        s = s * {c}")
        if masked or self.bool_mask:
            lines.append("        s = tl.where(valid, s, float('-inf'))")
        lines.append("        m_new = tl.maximum(m_i, tl.max(s, 1))")
        exp = "tl.exp" if natural else "tl.math.exp2"
        return lines + [
            "        m_safe = tl.where(m_new == float('-inf'), 0.0, m_new)",  # rows with nothing yet
            f"        p = {exp}(s - m_safe[:, None])",
            f"        alpha = {exp}(m_i - m_safe)",
            "        l_i = l_i * alpha + tl.sum(p, 1)",
            f"        vt = tl.load({v} + b * sv_b + hk * sv_h + rn[:, None] * sv_s + rdv[None, :]"
            + (f", mask={v_mask}, other=0.0)" if v_mask else ")"),
            f"        acc = acc * alpha[:, None] + tl.dot(p.to(vt.dtype), vt{dot_prec})",
            "        m_i = m_new",
        ]

    def config_space(self, level: int) -> list[dict[str, int]]:
        """Tiles of queries x keys, warps and pipeline stages, the likeliest first; some with a
        register cap per thread (``maxnreg``, PTX's .maxnreg; no spills at these sizes). At head
        size 64 the loop waits on its softmax more than on its two dots, so programs per SM count:
        128x32 on 4 warps takes 166-170 registers, and 168 keeps 3 programs on an SM's 65536
        registers where 170 leaves 2 (BERT's masked attention on an H200: 0.0141 -> 0.0104 ms).
        Measured and dropped: issuing each tile's scores one tile early, before the previous
        tile's softmax (the overlap cost registers: 10-25% slower everywhere)."""
        space = [
            {
                "BLOCK_M": m,
                "BLOCK_N": n,
                "num_warps": w,
                "num_stages": s,
                **({"maxnreg": r} if r and self.d <= 64 else {}),
            }
            for m, n, w, s, r in (
                (128, 32, 4, 3, 168),
                (64, 64, 4, 3, 0),
                (64, 32, 4, 2, 0),
                (128, 64, 4, 3, 0),
                (128, 32, 4, 3, 0),
                (64, 64, 4, 3, 128),
                (128, 128, 8, 2, 0),
                (32, 32, 4, 2, 0),
            )
        ]  # (caps measured at head size 64 only: a larger head's accumulator would spill under them)
        if self.d > 64:  # 128 rows of a larger head on 4 warps spill (d = 128, 128 x 64: 168 bytes,
            # compiled for sm_90 by Triton 3.6; tests/codegen/hopper.py): those tiles take 8 warps
            space = [{**c, "num_warps": 8} if c["BLOCK_M"] >= 128 else c for c in space]
        space = space[: {0: 1, 1: 3, 2: 4}.get(level, len(space))]
        return space + (self._gluon_space() if level >= 1 else [])

    def _gluon_space(self) -> list[dict[str, int]]:
        """The hand-written Hopper kernel's configs (``attention_gluon``), where it computes this op."""
        from tritium.codegen import attention_gluon

        if not self._gluon_applies() or not attention_gluon.available():
            return []
        return attention_gluon.config_space(self.d, self.att.k.type.shape[2], self.causal)  # type: ignore[attr-defined]

    def _gluon_applies(self) -> bool:
        from tritium.codegen import attention_gluon

        sq, sk = self.att.q.type.shape[2], self.att.k.type.shape[2]  # type: ignore[attr-defined]
        mask = "" if self.mask is None else "row" if self.mask_row and not self.bool_mask else "other"
        return attention_gluon.applies(
            self.dtype.name, self.d, self.dv, sq, sk, mask, bool(self.epilogue), self.scale
        )

    def identity_extra(self) -> str:
        """The Gluon kernel's code where its configs compete (``triton_env.kernel_identity``)."""
        from tritium.codegen import attention_gluon

        return attention_gluon.identity() if self._gluon_applies() else ""

    def __call__(self, inputs: list[Any], outputs: list[Any], config: dict[str, int] | None = None) -> None:
        from tritium.codegen.triton_env import load_source, register_cap, use_interpreter

        if self._fn is None:
            self._fn = getattr(load_source(self.source, self.name), self.name)
        cfg = dict(
            INTERPRETER_CONFIG
            if use_interpreter()
            else {"BLOCK_M": 64, "BLOCK_N": 64, "num_warps": 4, "num_stages": 2}
        )
        cfg.update(config or {})
        inputs = [x if x.dim() and x.stride(-1) == 1 else x.contiguous() for x in inputs]
        q, k, v = inputs[self.index["q"]], inputs[self.index["k"]], inputs[self.index["v"]]
        out = outputs[0]
        if cfg.get("GLUON"):
            from tritium.codegen import attention_gluon

            if attention_gluon.available():
                mask = inputs[self.index["mask"]] if self.mask is not None else None
                attention_gluon.launch(q, k, v, mask, out, self.causal, self.scale, cfg)
                return
            # (a plan tuned where the Gluon kernel runs, loaded where it does not: the generated one)
            cfg = dict(INTERPRETER_CONFIG if use_interpreter() else self.config_space(0)[0])
        bsz, h, sq, _ = q.shape
        hkv, sk = k.shape[1], k.shape[2]
        if self.mask is not None:
            m = inputs[self.index["mask"]]
            shape = (1,) * (4 - m.dim()) + tuple(m.shape)
            st = (0,) * (4 - m.dim()) + tuple(m.stride())
            ms = [0 if shape[d] == 1 else st[d] for d in range(4)]
        else:
            ms = [0, 0, 0, 0]
        grid = (-(-sq // cfg["BLOCK_M"]), bsz * h)
        self._fn[grid](
            *inputs,
            out,
            h,
            hkv,
            sq,
            sk,
            q.stride(0),
            q.stride(1),
            q.stride(2),
            k.stride(0),
            k.stride(1),
            k.stride(2),
            v.stride(0),
            v.stride(1),
            v.stride(2),
            *ms,
            out.stride(0),
            out.stride(1),
            out.stride(2),
            BLOCK_M=cfg["BLOCK_M"],
            BLOCK_N=cfg["BLOCK_N"],
            BLOCK_D=_pow2(self.d),
            BLOCK_DV=_pow2(self.dv),
            CAUSAL=self.causal,
            num_warps=cfg["num_warps"],
            num_stages=cfg["num_stages"],
            **register_cap(cfg),
            **pdl_kwargs(grid),
        )
