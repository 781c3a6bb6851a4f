"""The Gluon kernel of ``attention_gluon.py`` (imported only where Gluon's Hopper language is)."""

from __future__ import annotations

from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.hopper import (
    fence_async_shared,
    mbarrier,
    tma,
    warpgroup_mma,
    warpgroup_mma_wait,
)

# TMA copies: Triton 3.6's names, renamed async_load / async_store later (3.9 has only the new ones)
_tma_load = getattr(tma, "async_load", None) or tma.async_copy_global_to_shared
_tma_store = getattr(tma, "async_store", None) or tma.async_copy_shared_to_global

HALF = gl.constexpr(64)
"""Query rows per consumer warpgroup (``attention_gluon.ROWS``)."""
LOG2E = gl.constexpr(1.4426950408889634)
LOWEST = gl.constexpr(-3.4028234663852886e38)


@gluon.jit
def _my_tiles(n_tiles, G: gl.constexpr):
    """How many tiles this persistent program runs: units ``program_id + i * num_programs``, G tiles each
    (G = 2 for causal pairs, ``PAIRED``: see ``_tile`` and ``attention_gluon.launch``)."""
    units = n_tiles // G
    return G * ((units - gl.program_id(0) + gl.num_programs(0) - 1) // gl.num_programs(0))


@gluon.jit
def _tile(k, G: gl.constexpr, H, SQ, n_tiles, CAUSAL: gl.constexpr):
    """This program's ``k``-th tile: its batch element, head and first query.

    Without a causal mask, units are tiles in (head, block) order, so a head's tiles run at once on
    neighbouring programs and share one fetch of its keys and values from memory. Under a causal
    mask, tile m of a head reads m + 1 key tiles: a unit pairs tile m with tile per_head - 1 - m of
    the same head (per_head + 1 key tiles each where there are as many keys as queries, so the
    programs finish together) and runs the two back to back. With an odd number of tiles per head,
    or no more tiles than programs (``attention_gluon.launch``), units are tiles: the last query
    blocks, which read the most keys, come first, every head's before any next block."""
    u = gl.program_id(0) + (k // G) * gl.num_programs(0)
    per_head = SQ // (2 * HALF)
    if CAUSAL:
        if G == 2:
            bh = u // (per_head // 2)
            i = u % (per_head // 2)
            m = i + (1 - k % 2) * (per_head - 1 - 2 * i)  # the long tile first
        else:
            heads = n_tiles // per_head
            bh = u % heads
            m = per_head - 1 - u // heads
    else:
        bh = u // per_head
        m = u % per_head
    return bh // H, bh % H, m * 2 * HALF


@gluon.jit
def _n_keys(m0, SK, CAUSAL: gl.constexpr):
    """The keys a tile starting at query ``m0`` reads: all, or with a causal mask those up to its last query."""
    if CAUSAL:
        return gl.minimum(SK, m0 + 2 * HALF)
    else:
        return SK


@gluon.jit
def _take_turn(turn, who: gl.constexpr, phase):
    """Wait until the other consumer has issued its products (consumer 0 starts; the two alternate
    strictly, so neither is ever two phases ahead of a barrier's parity)."""
    mbarrier.wait(turn.index(who), (phase & 1) ^ (1 - who))


@gluon.jit
def _bias(p, start, BN: gl.constexpr, MASKED: gl.constexpr, s_layout: gl.constexpr):
    """The mask's row for key block ``start``, to base 2 (-inf kept, float32's lowest clamped to stay
    finite), or 0 without a mask. Loaded after the block's product is issued, before its wait."""
    mask_ptr, smb, smh, smk, b, h = p
    if MASKED:
        rn = start + gl.arange(0, BN, layout=gl.SliceLayout(0, s_layout))
        bias = gl.load(mask_ptr + b * smb + h * smh + rn * smk).to(gl.float32)
        return gl.where(bias == float("-inf"), bias, gl.maximum(bias * LOG2E, LOWEST))
    else:
        return 0.0


@gluon.jit
def _softmax(
    s, bias, m_i, l_i, rm, row0, start, scale, BN: gl.constexpr, CAUSAL: gl.constexpr, MASKED: gl.constexpr,
    s_layout: gl.constexpr, o_layout: gl.constexpr,
):  # fmt: skip
    """One key block's online softmax in base 2: the new row maxima and sums, the accumulator's rescale
    ([rows, 1]) and the probabilities (float32). A row with no key yet keeps a maximum of -inf.
    ``rm``: the rows' queries, from ``row0``; ``start``: the block's first key; ``bias``: the
    mask's row (``_bias``)."""
    if MASKED:
        s = s * scale + gl.expand_dims(bias, 0)
    if CAUSAL:
        # only a block that holds a key after some row's query: a branch, not a where on every block
        # (measured on H200: causal d64 at 512 and 1024 queries 3 and 15% faster, at 128 10% slower)
        if start + BN > row0:
            rn = start + gl.arange(0, BN, layout=gl.SliceLayout(0, s_layout))
            s = gl.where(gl.expand_dims(rn, 0) <= gl.expand_dims(rm, 1), s, float("-inf"))
    if MASKED:
        m_new = gl.maximum(m_i, gl.max(s, 1))
    else:  # the scale joins the subtraction below (one multiply-add per score, not two operations)
        m_new = gl.maximum(m_i, gl.max(s, 1) * scale)
    m_safe = gl.where(m_new == float("-inf"), 0.0, m_new)
    if MASKED:
        pr = gl.exp2(s - gl.expand_dims(m_safe, 1))
    else:
        pr = gl.exp2(s * scale - gl.expand_dims(m_safe, 1))
    alpha = gl.exp2(m_i - m_safe)
    l_i = l_i * alpha + gl.sum(pr, 1)
    return m_new, l_i, gl.expand_dims(gl.convert_layout(alpha, gl.SliceLayout(1, o_layout)), 1), pr


@gluon.jit
def _consume(who: gl.constexpr, p, CAUSAL: gl.constexpr, MASKED: gl.constexpr, G: gl.constexpr):
    """Consumer ``who`` (0 or 1): rows ``who * 64`` to ``who * 64 + 63`` of each of this program's tiles."""
    q_desc, k_desc = p[0][0], p[0][4]
    o_desc, o_rb, o_rh, o_ch = p[0][12], p[0][13], p[0][14], p[0][15]
    (q_smem, k_bufs, v_bufs, o_smem, q_ready, q_empty, k_ready, v_ready, k_empty, v_empty, turn) = p[1]
    (mask_ptr, smb, smh, smk, H, _, SQ, SK, n_tiles, scale) = p[2]
    BN: gl.constexpr = k_desc.block_type.shape[0]
    D: gl.constexpr = k_desc.block_type.shape[1]
    S: gl.constexpr = k_bufs.type.shape[0]
    s_layout: gl.constexpr = gl.NVMMADistributedLayout(
        version=[3, 0], warps_per_cta=[4, 1], instr_shape=[16, BN, 16]
    )
    o_layout: gl.constexpr = gl.NVMMADistributedLayout(
        version=[3, 0], warps_per_cta=[4, 1], instr_shape=[16, D, 16]
    )
    p_layout: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=o_layout, k_width=2)
    my_q = q_smem.index(who)
    my_o = o_smem.index(who)
    s_zero = gl.zeros([HALF, BN], gl.float32, s_layout)
    cnt = 0  # key blocks this program has taken from the rings
    phase = 0  # phases this consumer has had
    for it in range(_my_tiles(n_tiles, G)):
        b, h, m0 = _tile(it, G, H, SQ, n_tiles, CAUSAL)
        row0 = m0 + who * HALF
        rm = row0 + gl.arange(0, HALF, layout=gl.SliceLayout(1, s_layout))
        sm = (mask_ptr, smb, smh, smk, b, h)
        n_kv = _n_keys(m0, SK, CAUSAL) // BN
        if CAUSAL and BN < 2 * HALF:  # the blocks holding a key of this consumer's rows (0: one fewer,
            # where the keys reach past the tile's last query)
            my_kv = gl.minimum(n_kv, (row0 + HALF - 1) // BN + 1)
        else:
            my_kv = n_kv
        mbarrier.wait(q_ready.index(who), it & 1)
        m_i = gl.full([HALF], float("-inf"), gl.float32, gl.SliceLayout(1, s_layout))
        l_i = gl.zeros([HALF], gl.float32, gl.SliceLayout(1, s_layout))
        acc = gl.zeros([HALF, D], gl.float32, o_layout)
        # phase 0: the first block's scores alone
        mbarrier.wait(k_ready.index(cnt % S), (cnt // S) & 1)
        _take_turn(turn, who, phase)
        s_tok = warpgroup_mma(
            my_q, k_bufs.index(cnt % S).permute((1, 0)), s_zero, use_acc=False, is_async=True
        )
        mbarrier.arrive(turn.index(1 - who), count=1)
        phase += 1
        bias = _bias(sm, 0, BN, MASKED, s_layout)
        s = warpgroup_mma_wait(0, deps=[s_tok])
        mbarrier.arrive(k_empty.index(cnt % S), count=1)
        mbarrier.arrive(q_empty.index(who), count=1, pred=my_kv == 1)
        m_i, l_i, alpha, pr = _softmax(
            s, bias, m_i, l_i, rm, row0, 0, scale, BN, CAUSAL, MASKED, s_layout, o_layout
        )
        p_op = gl.convert_layout(pr.to(q_desc.dtype), p_layout)
        cnt += 1
        # phases 1 .. my_kv - 1: this block's scores, then the previous block's values under its softmax
        for j in range(1, my_kv):
            slot = cnt % S
            prev = (cnt + S - 1) % S
            mbarrier.wait(k_ready.index(slot), (cnt // S) & 1)
            mbarrier.wait(v_ready.index(prev), ((cnt - 1) // S) & 1)
            _take_turn(turn, who, phase)
            s_tok = warpgroup_mma(
                my_q, k_bufs.index(slot).permute((1, 0)), s_zero, use_acc=False, is_async=True
            )
            a_tok = warpgroup_mma(p_op, v_bufs.index(prev), acc, is_async=True)
            mbarrier.arrive(turn.index(1 - who), count=1)
            phase += 1
            bias = _bias(sm, j * BN, BN, MASKED, s_layout)
            s = warpgroup_mma_wait(1, deps=[s_tok])
            mbarrier.arrive(k_empty.index(slot), count=1)
            # this tile's queries are no longer read: the producer may load the next tile's
            mbarrier.arrive(q_empty.index(who), count=1, pred=j == my_kv - 1)
            m_i, l_i, alpha, pr = _softmax(
                s, bias, m_i, l_i, rm, row0, j * BN, scale, BN, CAUSAL, MASKED, s_layout, o_layout
            )
            acc, p_op = warpgroup_mma_wait(0, deps=[a_tok, p_op])
            mbarrier.arrive(v_empty.index(prev), count=1)
            acc = acc * alpha
            p_op = gl.convert_layout(pr.to(q_desc.dtype), p_layout)
            cnt += 1
        # the last phase: the last block's values
        prev = (cnt + S - 1) % S
        mbarrier.wait(v_ready.index(prev), ((cnt - 1) // S) & 1)
        _take_turn(turn, who, phase)
        a_tok = warpgroup_mma(p_op, v_bufs.index(prev), acc, is_async=True)
        mbarrier.arrive(turn.index(1 - who), count=1)
        phase += 1
        if CAUSAL and BN < 2 * HALF:
            # a block past this consumer's rows (at most one): it passes its turn and frees the slots
            # without computing (both consumers keep n_kv + 1 phases a tile, so turns still alternate)
            for _ in range(my_kv, n_kv):
                slot = cnt % S
                # (defensive: the turn below already orders these arrivals after both consumers'
                # previous use of the slot)
                mbarrier.wait(k_ready.index(slot), (cnt // S) & 1)
                mbarrier.wait(v_ready.index(slot), (cnt // S) & 1)
                _take_turn(turn, who, phase)
                mbarrier.arrive(turn.index(1 - who), count=1)
                phase += 1
                mbarrier.arrive(k_empty.index(slot), count=1)
                mbarrier.arrive(v_empty.index(slot), count=1)
                cnt += 1
        acc, p_op = warpgroup_mma_wait(0, deps=[a_tok, p_op])
        mbarrier.arrive(v_empty.index(prev), count=1)
        l_o = gl.expand_dims(gl.convert_layout(l_i, gl.SliceLayout(1, o_layout)), 1)
        out = gl.where(l_o == 0, 0.0, acc / gl.where(l_o == 0, 1.0, l_o))  # zeros for a row with no key
        tma.store_wait(pendings=0)  # the previous tile's store has left o_smem
        my_o.store(out.to(o_desc.dtype))
        fence_async_shared()
        _tma_store(o_desc, [b * o_rb + h * o_rh + m0 + who * HALF, h * o_ch], my_o)
    tma.store_wait(pendings=0)


@gluon.jit
def _consumer0(p):
    FLAGS: gl.constexpr = p[3].type.shape[0] - 1  # (CAUSAL + 2 * MASKED + 4 * PAIRED)
    _consume(0, p, FLAGS % 2 == 1, FLAGS // 2 % 2 == 1, 1 + FLAGS // 4)


@gluon.jit
def _consumer1(p):
    FLAGS: gl.constexpr = p[3].type.shape[0] - 1
    _consume(1, p, FLAGS % 2 == 1, FLAGS // 2 % 2 == 1, 1 + FLAGS // 4)


@gluon.jit
def _produce(p):
    CAUSAL: gl.constexpr = (p[3].type.shape[0] - 1) % 2 == 1
    G: gl.constexpr = 1 + (p[3].type.shape[0] - 1) // 4
    q_desc, q_rb, q_rh, q_ch = p[0][0], p[0][1], p[0][2], p[0][3]
    k_desc, k_rb, k_rh, k_ch = p[0][4], p[0][5], p[0][6], p[0][7]
    v_desc, v_rb, v_rh, v_ch = p[0][8], p[0][9], p[0][10], p[0][11]
    (q_smem, k_bufs, v_bufs, _, q_ready, q_empty, k_ready, v_ready, k_empty, v_empty, _) = p[1]
    (_, _, _, _, H, GROUP, SQ, SK, n_tiles, _) = p[2]
    BN: gl.constexpr = k_desc.block_type.shape[0]
    S: gl.constexpr = k_bufs.type.shape[0]
    cnt = 0
    for it in range(_my_tiles(n_tiles, G)):
        b, h, m0 = _tile(it, G, H, SQ, n_tiles, CAUSAL)
        hk = h // GROUP
        for w in gl.static_range(2):
            mbarrier.wait(q_empty.index(w), (it & 1) ^ 1)  # (a fresh barrier passes parity 1)
            mbarrier.expect(q_ready.index(w), q_desc.block_type.nbytes)
            _tma_load(
                q_desc, [b * q_rb + h * q_rh + m0 + w * HALF, h * q_ch], q_ready.index(w), q_smem.index(w)
            )
        for j in range(_n_keys(m0, SK, CAUSAL) // BN):
            s = cnt % S
            mbarrier.wait(k_empty.index(s), ((cnt // S) & 1) ^ 1)
            mbarrier.expect(k_ready.index(s), k_desc.block_type.nbytes)
            _tma_load(k_desc, [b * k_rb + hk * k_rh + j * BN, hk * k_ch], k_ready.index(s), k_bufs.index(s))
            mbarrier.wait(v_empty.index(s), ((cnt // S) & 1) ^ 1)
            mbarrier.expect(v_ready.index(s), v_desc.block_type.nbytes)
            _tma_load(v_desc, [b * v_rb + hk * v_rh + j * BN, hk * v_ch], v_ready.index(s), v_bufs.index(s))
            cnt += 1


@gluon.jit
def flash_attention_hopper(
    q_desc, q_rb, q_rh, q_ch, k_desc, k_rb, k_rh, k_ch, v_desc, v_rb, v_rh, v_ch, o_desc, o_rb, o_rh, o_ch,
    mask_ptr, smb, smh, smk, H, GROUP, SQ, SK, n_tiles, scale,
    STAGES: gl.constexpr, CAUSAL: gl.constexpr, MASKED: gl.constexpr, PAIRED: gl.constexpr,
):  # fmt: skip
    q_smem = gl.allocate_shared_memory(q_desc.dtype, [2] + q_desc.block_type.shape, q_desc.layout)
    k_bufs = gl.allocate_shared_memory(k_desc.dtype, [STAGES] + k_desc.block_type.shape, k_desc.layout)
    v_bufs = gl.allocate_shared_memory(v_desc.dtype, [STAGES] + v_desc.block_type.shape, v_desc.layout)
    o_smem = gl.allocate_shared_memory(o_desc.dtype, [2] + o_desc.block_type.shape, o_desc.layout)
    bar: gl.constexpr = mbarrier.MBarrierLayout()
    # (constants reach the partitions as values; a buffer's shape reaches them as a constant)
    flags = gl.allocate_shared_memory(gl.int64, [1 + CAUSAL + 2 * MASKED + 4 * PAIRED, 1], bar)
    q_ready = gl.allocate_shared_memory(gl.int64, [2, 1], bar)
    q_empty = gl.allocate_shared_memory(gl.int64, [2, 1], bar)
    turn = gl.allocate_shared_memory(gl.int64, [2, 1], bar)
    k_ready = gl.allocate_shared_memory(gl.int64, [STAGES, 1], bar)
    v_ready = gl.allocate_shared_memory(gl.int64, [STAGES, 1], bar)
    k_empty = gl.allocate_shared_memory(gl.int64, [STAGES, 1], bar)
    v_empty = gl.allocate_shared_memory(gl.int64, [STAGES, 1], bar)
    for i in gl.static_range(STAGES):
        mbarrier.init(k_ready.index(i), count=1)
        mbarrier.init(v_ready.index(i), count=1)
        mbarrier.init(k_empty.index(i), count=2)  # both consumers' scores with the slot's keys
        mbarrier.init(v_empty.index(i), count=2)  # both consumers' products with its values
    for i in gl.static_range(2):
        mbarrier.init(q_ready.index(i), count=1)
        mbarrier.init(q_empty.index(i), count=1)
        mbarrier.init(turn.index(i), count=1)
    descs = (
        q_desc,
        q_rb,
        q_rh,
        q_ch,
        k_desc,
        k_rb,
        k_rh,
        k_ch,
        v_desc,
        v_rb,
        v_rh,
        v_ch,
        o_desc,
        o_rb,
        o_rh,
        o_ch,
    )
    smem = (q_smem, k_bufs, v_bufs, o_smem, q_ready, q_empty, k_ready, v_ready, k_empty, v_empty, turn)
    rest = (mask_ptr, smb, smh, smk, H, GROUP, SQ, SK, n_tiles, scale)
    args = ((descs, smem, rest, flags),)
    # registers per thread: 240 for each consumer, 24 for the producer (3 warpgroups of 168 at launch)
    gl.warp_specialize([(_consumer0, args), (_consumer1, args), (_produce, args)], [4, 1], [240, 24])
