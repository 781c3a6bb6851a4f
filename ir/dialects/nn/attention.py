"""Scaled dot-product attention (ONNX Attention, opset 23-25) in one explicit 4-D form.

    %y, %present_k, %present_v, %qk = nn.attention %q, %k, %v[, %mask, %past_k, %past_v, %nonpad]
        {is_causal, scale, softcap, left_window_size, right_window_size, qk_matmul_output_mode, ...}

q is (B, Hq, Sq, D), k is (B, Hkv, Skv, D), v is (B, Hkv, Skv, Dv): the converter turns ONNX's 3-D
packed inputs into this layout. With a KV cache, keys and values are ``concat(past, new)`` along the
sequence; the op's 2nd and 3rd results are those concatenations (the new keys and values alone when
there is no cache). The 4th result is the score matrix at the stage ``qk_matmul_output_mode`` names.
A result that nothing uses need not be materialized by generated code.

Semantics, per batch b, query head h (kv head h // (Hq / Hkv)), query i and key j:
    score = scale * q . k                                   (mode 0)
    score = softcap * tanh(score / softcap) if softcap > 0  (mode 1)
    score += mask (float) or -inf where mask is false; -inf where a structural rule excludes j:
        is_causal: j > i + offset; windows: j < p - left or j > p + right (p = i + offset);
        nonpad_kv_seqlen: j >= nonpad[b]                    (mode 2)
    probs = softmax_j(score), a row with no allowed key is all zeros (mode 3)
    y = probs @ v
where ``offset`` is the past length with a cache, ``nonpad[b] - Sq`` with ``nonpad_kv_seqlen``,
else 0.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import BOOL, DTYPE, FLOAT, INT, one_of
from tritium.ir.dialects.nn.common import as_dtype, ttype
from tritium.ir.opdef import Op, Pure, attr, operand, opt_operand, region, result
from tritium.ir.types import Dim, TensorType, Type

MASK_TYPES = D.FLOATS | {D.bool_}


def _same(op: Op, what: str, a: Dim, b: Dim) -> None:
    if isinstance(a, int) and isinstance(b, int) and a != b:
        op.fail(f"{what} differ: {a} and {b}")


def _add_dims(a: Dim, b: Dim) -> Dim:
    if a == 0:
        return b
    return a + b if isinstance(a, int) and isinstance(b, int) else None


class Attention(Op):
    """Scaled dot-product attention with masks, causality, windows, GQA, KV cache and softcap."""

    name = "nn.attention"
    traits = (Pure,)
    q = operand(D.FLOATS)
    k = operand(D.FLOATS)
    v = operand(D.FLOATS)
    attn_mask = opt_operand(MASK_TYPES)
    past_key = opt_operand(D.FLOATS)
    past_value = opt_operand(D.FLOATS)
    nonpad_kv_seqlen = opt_operand([D.i64])
    y = result()
    present_key = result()
    present_value = result()
    qk_matmul_output = result()
    scale = attr(FLOAT, default=None, doc="absent: 1/sqrt(D)")
    is_causal = attr(BOOL, default=False)
    softcap = attr(FLOAT, default=0.0)
    left_window_size = attr(INT, default=-1)
    right_window_size = attr(INT, default=-1)
    qk_matmul_output_mode = attr(INT, default=0)
    softmax_precision = attr(DTYPE, default=None)

    def verify_op(self) -> None:
        if self.qk_matmul_output_mode not in (0, 1, 2, 3):
            self.fail(f"qk_matmul_output_mode must be 0, 1, 2 or 3, found {self.qk_matmul_output_mode}")
        if self.softcap < 0:
            self.fail(f"softcap must be >= 0, found {self.softcap}")
        if (self.past_key is None) != (self.past_value is None):
            self.fail("past_key and past_value must be given together")
        if self.softmax_precision is not None and not self.softmax_precision.is_float:
            self.fail(f"softmax_precision must be a float type, found {self.softmax_precision}")

    def infer(self) -> list[TensorType]:
        q, k, v = (ttype(self, x, n) for x, n in ((self.q, "q"), (self.k, "k"), (self.v, "v")))
        if k.dtype != q.dtype:
            self.fail(f"q and k must have one element type, found {q.dtype} and {k.dtype}")
        for t, n in ((q, "q"), (k, "k"), (v, "v")):
            if t.rank not in (None, 4):
                self.fail(f"{n} must be 4-D (batch, heads, sequence, head size), found {t}")
        qs = q.shape or (None,) * 4
        ks = k.shape or (None,) * 4
        vs = v.shape or (None,) * 4
        _same(self, "batch sizes of q and k", qs[0], ks[0])
        _same(self, "head sizes of q and k", qs[3], ks[3])
        _same(self, "kv heads of k and v", ks[1], vs[1])
        _same(self, "kv sequence lengths of k and v", ks[2], vs[2])
        if isinstance(qs[1], int) and isinstance(ks[1], int) and (ks[1] == 0 or qs[1] % ks[1]):
            self.fail(f"q heads ({qs[1]}) must be a multiple of kv heads ({ks[1]})")
        past = 0 if self.past_key is None else None
        pk_dtype, pv_dtype = k.dtype, v.dtype
        if self.past_key is not None:
            pk, pv = ttype(self, self.past_key, "past_key"), ttype(self, self.past_value, "past_value")
            if pk.dtype != k.dtype or pv.dtype != v.dtype:
                self.fail("past_key / past_value must have the element types of k / v")
            if pk.rank not in (None, 4) or pv.rank not in (None, 4):
                self.fail("past_key and past_value must be 4-D")
            pks, pvs = pk.shape or (None,) * 4, pv.shape or (None,) * 4
            _same(self, "head sizes of past_key and k", pks[3], ks[3])
            _same(self, "past sequence lengths", pks[2], pvs[2])
            past = pks[2]
        total = _add_dims(past, ks[2])
        if self.attn_mask is not None:
            m = ttype(self, self.attn_mask, "attn_mask")
            if m.dtype != D.bool_ and m.dtype != q.dtype:
                self.fail(f"attn_mask must be bool or {q.dtype}, found {m.dtype}")
            if m.rank is not None and not 1 <= m.rank <= 4:
                self.fail(f"attn_mask must have rank 1 to 4, found {m}")
        if self.nonpad_kv_seqlen is not None:
            n = ttype(self, self.nonpad_kv_seqlen, "nonpad_kv_seqlen")
            if n.rank not in (None, 1):
                self.fail(f"nonpad_kv_seqlen must be 1-D (batch), found {n}")
        return [
            TensorType((qs[0], qs[1], qs[2], vs[3]), q.dtype),
            TensorType((ks[0], ks[1], total, ks[3]), pk_dtype),
            TensorType((vs[0], vs[1], total, vs[3]), pv_dtype),
            TensorType((qs[0], qs[1], qs[2], total), q.dtype),
        ]

    def reference(self, q, k, v, attn_mask, past_key, past_value, nonpad_kv_seqlen):
        if past_key is not None:
            k = np.concatenate([past_key, k], axis=2)
            v = np.concatenate([past_value, v], axis=2)
        present_k, present_v = k, v
        b, hq, sq, d = q.shape
        hkv, st = k.shape[1], k.shape[2]
        if hkv == 0 or hq % hkv:
            raise ValueError(f"q heads ({hq}) must be a multiple of kv heads ({hkv})")
        group = hq // hkv
        kr = np.repeat(k.astype(np.float64), group, axis=1)
        vr = np.repeat(v.astype(np.float64), group, axis=1)
        scale = self.scale if self.scale is not None else 1.0 / math.sqrt(d)
        scores = np.matmul(q.astype(np.float64), np.swapaxes(kr, -1, -2)) * scale
        staged = [scores]
        if self.softcap > 0:
            scores = self.softcap * np.tanh(scores / self.softcap)
        staged.append(scores)
        bias = self._bias(
            attn_mask, nonpad_kv_seqlen, b, hq, sq, st, 0 if past_key is None else past_key.shape[2]
        )
        scores = scores + bias
        staged.append(scores)
        if self.softmax_precision is not None:
            scores = scores.astype(self.softmax_precision.np_dtype).astype(np.float64)
        probs = _softmax_rows(scores)
        if self.softmax_precision is not None:
            probs = probs.astype(self.softmax_precision.np_dtype).astype(np.float64)
        staged.append(probs)
        y = np.matmul(probs, vr)
        out_t = self.results[0].type
        return (
            as_dtype(y, out_t),
            as_dtype(present_k, self.results[1].type),
            as_dtype(present_v, self.results[2].type),
            as_dtype(staged[self.qk_matmul_output_mode], self.results[3].type),
        )

    def _bias(self, mask, nonpad, b: int, hq: int, sq: int, st: int, past: int) -> np.ndarray:
        """The additive bias (B, Hq, Sq, St): the mask, and -inf where a structural rule excludes a key."""
        bias = np.zeros((b, hq, sq, st))
        if mask is not None:
            if mask.shape[-1] < st:  # a mask may stop at the longest valid key (with nonpad_kv_seqlen)
                pad = [(0, 0)] * (mask.ndim - 1) + [(0, st - mask.shape[-1])]
                mask = np.pad(mask, pad, constant_values=False if mask.dtype == np.bool_ else -np.inf)
            if mask.dtype == np.bool_:
                bias = bias + np.where(mask, 0.0, -np.inf)
            else:
                bias = bias + mask.astype(np.float64)
        if past:
            offset = np.full(b, past)
        elif nonpad is not None:
            offset = nonpad.astype(np.int64) - sq
        else:
            offset = np.zeros(b, np.int64)
        i = np.arange(sq).reshape(1, sq, 1)
        j = np.arange(st).reshape(1, 1, st)
        p = i + offset.reshape(-1, 1, 1)
        allowed = np.ones((b, sq, st), bool)
        if self.is_causal:
            allowed &= j <= p
        if self.left_window_size >= 0:
            allowed &= j >= p - self.left_window_size
        if self.right_window_size >= 0:
            allowed &= j <= p + self.right_window_size
        if nonpad is not None:
            allowed &= j < nonpad.reshape(-1, 1, 1)
        return bias + np.where(allowed, 0.0, -np.inf)[:, None]


def _softmax_rows(s: np.ndarray) -> np.ndarray:
    """Softmax over the last axis; a row that is all -inf gives zeros (not NaN)."""
    m = np.max(s, axis=-1, keepdims=True)
    dead = ~np.isfinite(m) & (m < 0)
    e = np.exp(s - np.where(dead, 0.0, m))
    total = np.sum(e, axis=-1, keepdims=True)
    with np.errstate(all="ignore"):
        return np.where(dead, 0.0, e / np.where(dead, 1.0, total))


class FlexAttention(Op):
    """Attention with user modifiers (ONNX ai.onnx.preview FlexAttention), after PyTorch's flex_attention:

        scores = score_mod(scale * q @ k^T)     (in softmax_precision)
        y = prob_mod(softmax(scores)) @ v

    q is (B, Hq, L, D), k (B, Hkv, S, D), v (B, Hkv, S, Dv), query head h reading kv head
    h // (Hq / Hkv). Each region takes the (B, Hq, L, S) tensor as its one block argument and yields
    one of the same type (the identity when ONNX gives no modifier). Without modifiers the converter
    emits nn.attention instead. A row of scores that is all -inf gives zero probabilities."""

    name = "nn.flex_attention"
    traits = (Pure,)
    q = operand(D.FLOATS)
    k = operand(D.FLOATS)
    v = operand(D.FLOATS)
    out = result()
    scale = attr(FLOAT, default=None, doc="absent: 1/sqrt(D)")
    softmax_precision = attr(DTYPE)
    score_mod = region()
    prob_mod = region()

    def verify_op(self) -> None:
        if not self.softmax_precision.is_float:
            self.fail(f"softmax_precision must be a float type, found {self.softmax_precision}")
        for i, what in ((0, "score_mod"), (1, "prob_mod")):
            blocks = self.regions[i].blocks
            if len(blocks) != 1 or len(blocks[0].args) != 1:
                self.fail(f"{what} must have one block with one argument")
            last = blocks[0].last_op
            if last is None or len(last.operands) != 1:
                self.fail(f"{what} must end by yielding one value")
            t = blocks[0].args[0].type
            if not isinstance(t, TensorType) or t.dtype != self.softmax_precision:
                self.fail(f"{what} takes a {self.softmax_precision} tensor, found {t}")
            y = last.operands[0].type
            if not isinstance(y, TensorType) or y.dtype != t.dtype or (y.rank is not None and y.rank != 4):
                self.fail(f"{what} must yield a 4-D {t.dtype} tensor, found {y}")

    def infer(self) -> Type:
        q, k, v = (ttype(self, x, n) for x, n in ((self.q, "q"), (self.k, "k"), (self.v, "v")))
        if k.dtype != q.dtype or v.dtype != q.dtype:
            self.fail(f"q, k and v must have one element type, found {q.dtype}, {k.dtype}, {v.dtype}")
        for t, n in ((q, "q"), (k, "k"), (v, "v")):
            if t.rank not in (None, 4):
                self.fail(f"{n} must be 4-D (batch, heads, sequence, head size), found {t}")
        qs, ks, vs = q.shape or (None,) * 4, k.shape or (None,) * 4, v.shape or (None,) * 4
        _same(self, "head sizes of q and k", qs[3], ks[3])
        _same(self, "kv heads of k and v", ks[1], vs[1])
        _same(self, "kv sequence lengths of k and v", ks[2], vs[2])
        if isinstance(qs[1], int) and isinstance(ks[1], int) and (ks[1] == 0 or qs[1] % ks[1]):
            self.fail(f"q heads ({qs[1]}) must be a multiple of kv heads ({ks[1]})")
        return TensorType((qs[0], qs[1], qs[2], vs[3]), q.dtype)

    def evaluate(self, interp: Any, vals: list[Any], env: dict) -> tuple:
        q, k, v = vals
        group = q.shape[1] // k.shape[1]
        prec = self.softmax_precision.np_dtype
        kr = np.repeat(k.astype(np.float64), group, axis=1)
        vr = np.repeat(v.astype(np.float64), group, axis=1)
        scale = self.scale if self.scale is not None else 1.0 / math.sqrt(q.shape[3])
        scores = (np.matmul(q.astype(np.float64), np.swapaxes(kr, -1, -2)) * scale).astype(prec)
        (scores,) = interp.run_block(self.regions[0].block, [scores], env)
        probs = _softmax_rows(np.asarray(scores, np.float64)).astype(prec)
        (probs,) = interp.run_block(self.regions[1].block, [probs], env)
        y = np.matmul(np.asarray(probs, np.float64), vr)
        return (as_dtype(y, self.results[0].type),)


class RotaryEmbedding(Op):
    """Rotary position embedding (ONNX RotaryEmbedding).

    ``x`` is (B, H, S, D), or (B, S, H*D) with ``num_heads``. The first ``rotary_embedding_dim``
    features of each head (all when 0) are taken as pairs (a, b), either the two halves or, with
    ``interleaved``, even and odd features, and rotated: (a cos - b sin, a sin + b cos). ``cos_cache``
    and ``sin_cache`` are (max_position, R/2) indexed by ``position_ids`` (B, S), or (B, S, R/2)."""

    name = "nn.rotary_embedding"
    traits = (Pure,)
    x = operand(D.FLOATS)
    cos_cache = operand(D.FLOATS)
    sin_cache = operand(D.FLOATS)
    position_ids = opt_operand([D.i64])
    out = result()
    interleaved = attr(BOOL, default=False)
    rotary_embedding_dim = attr(INT, default=0)
    num_heads = attr(INT, default=0)

    def infer(self) -> TensorType:
        x = ttype(self, self.x, "x")
        c, s = ttype(self, self.cos_cache, "cos_cache"), ttype(self, self.sin_cache, "sin_cache")
        if c.dtype != x.dtype or s.dtype != x.dtype:
            self.fail(f"cos_cache and sin_cache must have x's element type {x.dtype}")
        if x.rank not in (None, 3, 4):
            self.fail(f"x must be 3-D or 4-D, found {x}")
        if x.rank == 3 and self.num_heads <= 0:
            self.fail("a 3-D x needs num_heads")
        want = 2 if self.position_ids is not None else 3
        for t, n in ((c, "cos_cache"), (s, "sin_cache")):
            if t.rank not in (None, want):
                self.fail(
                    f"{n} must be {want}-D {'with' if want == 2 else 'without'} position_ids, found {t}"
                )
        if self.rotary_embedding_dim < 0 or self.rotary_embedding_dim % 2:
            self.fail(f"rotary_embedding_dim must be even and >= 0, found {self.rotary_embedding_dim}")
        return x

    def reference(self, x, cos_cache, sin_cache, position_ids) -> np.ndarray:
        if x.ndim == 3:
            bsz, seq, hidden = x.shape
            heads = x.reshape(bsz, seq, self.num_heads, hidden // self.num_heads).transpose(0, 2, 1, 3)
        else:
            heads = x
        heads = heads.astype(np.float64)
        d = heads.shape[-1]
        r = self.rotary_embedding_dim or d
        half = r // 2
        cos = cos_cache[position_ids] if position_ids is not None else cos_cache
        sin = sin_cache[position_ids] if position_ids is not None else sin_cache
        if cos.shape[-1] != half or sin.shape[-1] != half:
            raise ValueError(f"cos/sin caches have {cos.shape[-1]} features, expected {half}")
        cos = cos.astype(np.float64)[:, None]  # (B, 1, S, R/2): shared by the heads
        sin = sin.astype(np.float64)[:, None]
        out = heads.copy()
        if self.interleaved:
            first, second = heads[..., 0:r:2], heads[..., 1:r:2]
            out[..., 0:r:2] = first * cos - second * sin
            out[..., 1:r:2] = first * sin + second * cos
        else:
            first, second = heads[..., :half], heads[..., half:r]
            out[..., :half] = first * cos - second * sin
            out[..., half:r] = first * sin + second * cos
        if x.ndim == 3:
            out = out.transpose(0, 2, 1, 3).reshape(x.shape)
        return as_dtype(out, self.results[0].type)


class LinearAttention(Op):
    """Recurrent linear attention (ONNX LinearAttention, opset 27), run token by token.

    query is (B, T, Hq*dk), key (B, T, Hkv*dk), value (B, T, Hkv*dv); the state S is (B, Hkv, dk, dv)
    (zeros without ``past_state``). With G = exp(decay) (per head, or per key feature) and beta per
    head: linear S += k v^T; gated S = G S + k v^T; delta S += beta k (v - S^T k)^T;
    gated_delta S = G S + beta k (v - (G S)^T k)^T. Each query head reads its kv head's state:
    o = scale * S^T q. Results: the outputs (B, T, Hq*dv) and the last state."""

    name = "nn.linear_attention"
    traits = (Pure,)
    query = operand(D.FLOATS)
    key = operand(D.FLOATS)
    value = operand(D.FLOATS)
    past_state = opt_operand(D.FLOATS)
    decay = opt_operand(D.FLOATS)
    beta = opt_operand(D.FLOATS)
    output = result()
    present_state = result()
    q_num_heads = attr(INT)
    kv_num_heads = attr(INT)
    update_rule = attr(one_of("linear", "gated", "delta", "gated_delta"), default="gated_delta")
    scale = attr(FLOAT, default=None, doc="absent: 1/sqrt(dk)")

    def verify_op(self) -> None:
        if self.q_num_heads <= 0 or self.kv_num_heads <= 0 or self.q_num_heads % self.kv_num_heads:
            self.fail(
                f"q_num_heads ({self.q_num_heads}) must be a positive multiple of kv_num_heads ({self.kv_num_heads})"
            )
        if self.update_rule in ("gated", "gated_delta") and self.decay is None:
            self.fail(f"update_rule '{self.update_rule}' needs decay")
        if self.update_rule in ("delta", "gated_delta") and self.beta is None:
            self.fail(f"update_rule '{self.update_rule}' needs beta")
        if self.update_rule in ("linear", "delta") and self.decay is not None:
            self.fail(f"update_rule '{self.update_rule}' takes no decay (only the gated rules do)")
        if self.update_rule in ("linear", "gated") and self.beta is not None:
            self.fail(f"update_rule '{self.update_rule}' takes no beta (only the delta rules do)")

    def infer(self) -> list[TensorType]:
        q, k, v = (
            ttype(self, x, n) for x, n in ((self.query, "query"), (self.key, "key"), (self.value, "value"))
        )
        for t, n in ((q, "query"), (k, "key"), (v, "value")):
            if t.rank not in (None, 3):
                self.fail(f"{n} must be 3-D (batch, time, heads * size), found {t}")
            if t.dtype != q.dtype:
                self.fail(f"query, key and value must have one element type, found {q.dtype} and {t.dtype}")
        qs, ks, vs = q.shape or (None,) * 3, k.shape or (None,) * 3, v.shape or (None,) * 3
        hq, hkv = self.q_num_heads, self.kv_num_heads
        for dim, heads, n in ((qs[2], hq, "query"), (ks[2], hkv, "key"), (vs[2], hkv, "value")):
            if isinstance(dim, int) and dim % heads:
                self.fail(f"{n} features ({dim}) are not a multiple of its {heads} heads")
        dk = ks[2] // hkv if isinstance(ks[2], int) else None
        dv = vs[2] // hkv if isinstance(vs[2], int) else None
        if isinstance(qs[2], int) and isinstance(dk, int):
            _same(self, "query and key head sizes", qs[2] // hq, dk)
        for opt, n, allowed in (
            (self.decay, "decay", (hkv, hkv * dk if dk else None)),
            (self.beta, "beta", (1, hkv)),
        ):
            if opt is None:
                continue
            t = ttype(self, opt, n)
            if t.rank not in (None, 3):
                self.fail(f"{n} must be 3-D (batch, time, features), found {t}")
            last = t.shape[2] if t.shape is not None else None
            if isinstance(last, int) and None not in allowed and last not in allowed:
                self.fail(f"{n} has {last} features, expected one of {sorted(set(allowed))}")
        state_dtype = q.dtype
        if self.past_state is not None:
            p = ttype(self, self.past_state, "past_state")
            if p.rank not in (None, 4):
                self.fail(f"past_state must be 4-D (batch, kv heads, dk, dv), found {p}")
            state_dtype = p.dtype
        out_dv = hq * dv if isinstance(dv, int) else None
        return [
            TensorType((qs[0], qs[1], out_dv), q.dtype),
            TensorType((qs[0], hkv, dk, dv), state_dtype),
        ]

    def reference(self, query, key, value, past_state, decay, beta):
        bsz, steps, _ = query.shape
        hq, hkv = self.q_num_heads, self.kv_num_heads
        dk, dv = key.shape[2] // hkv, value.shape[2] // hkv
        q = query.astype(np.float64).reshape(bsz, steps, hq, dk)
        k = key.astype(np.float64).reshape(bsz, steps, hkv, dk)
        v = value.astype(np.float64).reshape(bsz, steps, hkv, dv)
        state = np.zeros((bsz, hkv, dk, dv)) if past_state is None else past_state.astype(np.float64).copy()
        gate = None
        if decay is not None:
            per = decay.shape[2] // hkv  # 1 (per head) or dk (per key feature)
            gate = np.exp(decay.astype(np.float64)).reshape(bsz, steps, hkv, per)
        rate = None
        if beta is not None:
            rate = np.broadcast_to(beta.astype(np.float64), (bsz, steps, hkv))
        scale = self.scale if self.scale is not None else 1.0 / math.sqrt(dk)
        group = hq // hkv
        out = np.zeros((bsz, steps, hq, dv))
        for t in range(steps):
            kt, vt = k[:, t], v[:, t]  # (B, Hkv, dk), (B, Hkv, dv)
            if gate is not None:
                state = state * gate[:, t][..., None]  # scales the rows (key features) of S
            if rate is not None:
                recalled = np.einsum("bhkv,bhk->bhv", state, kt)
                delta = rate[:, t][..., None] * (vt - recalled)
                state = state + kt[..., None] * delta[:, :, None, :]
            else:
                state = state + kt[..., None] * vt[:, :, None, :]
            shared = np.repeat(state, group, axis=1)  # (B, Hq, dk, dv)
            out[:, t] = scale * np.einsum("bhkv,bhk->bhv", shared, q[:, t])
        return (
            as_dtype(out.reshape(bsz, steps, hq * dv), self.results[0].type),
            as_dtype(state, self.results[1].type),
        )
