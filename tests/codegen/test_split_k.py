"""Split-K in the convolution and GEMM templates (codegen/split_k.py): programs share a tile's
reduction and the last to arrive adds the partial sums and runs the epilogue. Interpreter runs
against the reference on the loops that split (the convolution's pointer loop, its TMA "same" and
"valid" forms; the GEMM's pointer and TMA loops), uneven shares, the same bits in every split
order, and the counters left at zero for the next launch."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch

import tritium.ir as ir
from tests.codegen.test_conv import conv_text, fused_kernel
from tests.codegen.test_gemm import bias_gemm, rel
from tritium.codegen.split_k import SPLIT_LOOP, reduction_steps, split_candidates, split_loop

CASES = {
    # n, c, h, w, k, r, s, stride, pad, dilation, group
    "pointers": ((2, 32, 7, 7, 24, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 1), {}),
    "pointers-partial-block": ((1, 20, 6, 6, 8, 3, 3, (1, 1), (1, 1, 1, 1), (2, 1), 1), {}),
    "tma-same": ((2, 32, 5, 7, 24, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1), {"TMA": 1}),
    "tma-valid": ((2, 16, 7, 6, 24, 4, 4, (1, 1), (0, 0, 0, 0), (1, 1), 1), {"TMA": 1}),
}


def _run(kernel, ins, shape, cfg, dtype=torch.float16) -> torch.Tensor:
    got = torch.full(shape, float("nan"), dtype=dtype)
    kernel(ins, [got], cfg)
    return got


@pytest.mark.parametrize("split", [2, 3, 4])
@pytest.mark.parametrize("name", list(CASES))
def test_split_reduction_matches_reference(name: str, split: int, rng: np.random.Generator) -> None:
    case, form = CASES[name]
    module, ref, fused, kernel = fused_kernel(conv_text(case, "NHWC", "f16"))
    assert kernel.splittable and "SPLIT_K: tl.constexpr" in kernel.source
    inputs = [(rng.standard_normal(a.type.shape) / 2).astype(np.float16) for a in module.main.args]
    want = ir.run_reference(ref, inputs)[0].astype(np.float32)
    env = dict(zip(module.main.args, (torch.from_numpy(v) for v in inputs)))
    ins = [env[v] for v in fused.operands]
    cfg = {"BLOCK_M": 16, "BLOCK_N": 16, "BLOCK_K": 16, "num_warps": 4, "num_stages": 1, **form}
    got = _run(kernel, ins, want.shape, {**cfg, "SPLIT_K": split})
    err = np.linalg.norm(got.numpy().astype(np.float32) - want) / np.linalg.norm(want)
    assert err < 3e-3, err
    whole = _run(kernel, ins, want.shape, cfg)  # the same tiles unsplit: equal up to float32 rounding
    assert np.allclose(got.numpy(), whole.numpy(), rtol=2e-3, atol=2e-3)
    # every partial was counted and the counters are zero again; a second launch on new inputs,
    # with the workspace poisoned, must read only this launch's partials
    ((ws, counters),) = kernel._workspaces.by_key.values()
    assert not counters.any()
    ws.fill_(float("nan"))
    inputs = [(rng.standard_normal(a.type.shape) / 2).astype(np.float16) for a in module.main.args]
    want = ir.run_reference(ref, inputs)[0].astype(np.float32)
    env = dict(zip(module.main.args, (torch.from_numpy(v) for v in inputs)))
    again = _run(kernel, [env[v] for v in fused.operands], want.shape, {**cfg, "SPLIT_K": split})
    err = np.linalg.norm(again.numpy().astype(np.float32) - want) / np.linalg.norm(want)
    assert err < 3e-3, err
    assert not counters.any()


def test_grouped_convolution_splits_per_group(rng: np.random.Generator) -> None:
    """Two groups of 32 channels: the tile counters and workspace slots count every group's tiles."""
    case = (2, 64, 6, 7, 48, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 2)
    module, ref, fused, kernel = fused_kernel(conv_text(case, "NHWC", "f16"))
    assert kernel.splittable
    inputs = [(rng.standard_normal(a.type.shape) / 2).astype(np.float16) for a in module.main.args]
    want = ir.run_reference(ref, inputs)[0].astype(np.float32)
    env = dict(zip(module.main.args, (torch.from_numpy(v) for v in inputs)))
    ins = [env[v] for v in fused.operands]
    cfg = {"BLOCK_M": 16, "BLOCK_N": 16, "BLOCK_K": 16, "num_warps": 4, "num_stages": 1}
    for split in (2, 3):
        got = _run(kernel, ins, want.shape, {**cfg, "SPLIT_K": split})
        err = np.linalg.norm(got.numpy().astype(np.float32) - want) / np.linalg.norm(want)
        assert err < 3e-3, (split, err)
    # candidates count both groups' tiles: 84 pixels x 24 channels a group is 6 x 2 tiles, 24 in all
    assert [c["SPLIT_K"] for c in split_candidates([cfg], 84, 24, lambda c: 8, 25, groups=2)] == [4, 3, 2]
    assert split_candidates([cfg], 84, 24, lambda c: 8, 24, groups=2) == []  # 24 tiles fill 24 SMs
    assert split_candidates([cfg], 84, 24, lambda c: 8, 24) != []  # (one group's 12 would not)


def test_tuning_releases_the_workspaces_its_timing_made(rng: np.random.Generator) -> None:
    """Tuning times candidates on streams of its own (CUDA graphs on the GPU); the workspaces those
    launches made would stay with the kernel for its life. The ones that existed before stay."""
    from tritium.codegen.tuning import TimingCache, Tuner

    kernel, fused, env, _want, _ = bias_gemm((1, 33, 80), 40, False, rng)
    ins = [env[v] for v in fused.operands]
    out = [torch.empty((1, 33, 40), dtype=torch.float16)]
    base = {"BLOCK_M": 16, "BLOCK_N": 16, "BLOCK_K": 16, "GROUP_M": 8, "num_warps": 4, "num_stages": 1}
    kernel(ins, out, {**base, "SPLIT_K": 2})  # a context's earlier launch: its workspace stays
    kept = set(kernel._workspaces.by_key)
    space = [{**base, "SPLIT_K": 3}, {**base, "SPLIT_K": 5}, base]
    tuner = Tuner(TimingCache(), timer=lambda fn: (fn(), 1.0)[1])  # every candidate launched
    assert tuner._choose(kernel, ins, out, space, [(1, 33, 80), (80, 40), (40,), (1, 33, 40)]) == space[0]
    assert set(kernel._workspaces.by_key) == kept and kept


def test_the_last_program_sums_in_split_order(rng: np.random.Generator) -> None:
    """Programs arrive in any order on a GPU; the interpreter runs them in one fixed order. Counters
    poisoned to 1 ("one share has arrived") make the second of three shares to arrive the last of
    its tile instead of the third: it adds the third's slot (left by the previous launch, the same
    values) to the others. The result must keep its bits: the partials are summed in split order,
    not in arrival order (with two shares the two orders would round alike: a + b == b + a)."""
    case, _ = CASES["pointers"]
    # float32 results: float16 would round the two orders' sums alike
    module, _ref, fused, kernel = fused_kernel(conv_text(case, "NHWC", "f32"))
    inputs = [rng.standard_normal(a.type.shape).astype(np.float32) for a in module.main.args]
    env = dict(zip(module.main.args, (torch.from_numpy(v) for v in inputs)))
    ins = [env[v] for v in fused.operands]
    cfg = {"BLOCK_M": 16, "BLOCK_N": 16, "BLOCK_K": 16, "num_warps": 4, "num_stages": 1, "SPLIT_K": 3}
    out = fused.results[0].type.shape
    first = _run(kernel, ins, out, cfg, torch.float32)
    ((_ws, counters),) = kernel._workspaces.by_key.values()
    counters.fill_(1)
    second = _run(kernel, ins, out, cfg, torch.float32)
    assert torch.equal(first, second)
    assert (counters == 1).all()  # the second arrival finished each tile; the third counted in after


def test_split_loop_bounds() -> None:
    loop = ["    ncb = tl.cdiv(CG, BLOCK_K)", "    for kk in range(0, R * S * ncb):", "        a = 1"]
    out = split_loop(loop)
    assert out[0] == loop[0] and out[-1] == loop[-1]
    assert "    for kk in range(k_lo, k_hi):" in out
    assert "        k_lo = ks * (R * S * ncb) // SPLIT_K" in out
    tma = split_loop(["    for rs in tl.range(0, R * S, flatten=True):", "        b = 2"])
    assert "    for rs in tl.range(k_lo, k_hi, flatten=True):" in tma
    assert not SPLIT_LOOP.match("        for cb in range(0, ncb):")  # nested loops stay whole


def test_split_candidates_only_where_tiles_leave_sms_idle() -> None:
    """ResNet-50 at batch 32: the 7 x 7 stage's 3x3 convolution (1568 pixels, 512 channels) gets
    split forms of its 52 tiles of 128 x 128 (4, 3 and 2 shares of its 9 taps: a share has two at
    least) and of its 100 of 64 x 128 (the same: 400 programs are within four per SM of 132); the
    56 x 56 stage's (100352 pixels) none."""
    space = [
        {"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 64, "TMA": 1},
        {"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 64, "TMA": 1, "PERSISTENT": 1},  # whole tiles only
        {"BLOCK_M": 64, "BLOCK_N": 128, "BLOCK_K": 64},
    ]
    assert reduction_steps(space[0], (3, 3, 512), "same") == 9
    assert reduction_steps(space[2], (3, 3, 512), "same") == 72
    late = split_candidates(space, 1568, 512, partial(reduction_steps, window=(3, 3, 512), form="same"), 132)
    assert [(c["BLOCK_M"], c["SPLIT_K"]) for c in late] == [
        (128, 4),
        (128, 3),
        (128, 2),
        (64, 4),
        (64, 3),
        (64, 2),
    ]
    assert not any(c.get("PERSISTENT") for c in late)
    early = partial(reduction_steps, window=(3, 3, 64), form="same")
    assert split_candidates(space, 100352, 64, early, 132) == []
    # batch 1 (49 pixels, one row of tiles): the largest splits; never under two steps a share
    assert [c["SPLIT_K"] for c in split_candidates(space[:1], 49, 512, lambda c: 8, 132)] == [4, 3, 2]
    assert [c["SPLIT_K"] for c in split_candidates(space[:1], 49, 512, lambda c: 32, 132)] == [8, 6, 4]


@pytest.mark.parametrize("tma", [0, 1])
@pytest.mark.parametrize("split", [2, 3, 5])
@pytest.mark.parametrize("m,n,k", [(33, 40, 80), (9, 16, 48), (20, 24, 37)])
def test_gemm_split_reduction(m: int, n: int, k: int, split: int, tma: int, rng: np.random.Generator) -> None:
    """The GEMM template's split: K of 80, 48 and 37 (a last partial step, masked) in steps of 16
    shared 2, 3 or 5 ways (with 3 steps and 5 shares two shares have none: they add zeros), tiles
    of 16 x 16 over 33 x 40 (partial tiles), through pointers and TMA (37 x 2 bytes: rows TMA
    cannot address, so the pointer loop runs)."""
    kernel, fused, env, want, _ = bias_gemm((1, m, k), n, False, rng)
    assert kernel.splittable and "SPLIT_K: tl.constexpr" in kernel.source
    cfg = {"BLOCK_M": 16, "BLOCK_N": 16, "BLOCK_K": 16, "GROUP_M": 8, "num_warps": 4, "num_stages": 1}
    cfg.update({"TMA": 1} if tma else {})
    for _ in range(2):  # the counters are zero again after a launch
        got = torch.full((1, m, n), float("nan"), dtype=torch.float16)
        kernel([env[v] for v in fused.operands], [got], {**cfg, "SPLIT_K": split})
        assert rel(got.numpy(), want) < 2e-3
        ((_ws, counters),) = kernel._workspaces.by_key.values()
        assert not counters.any()


def test_plans_keep_only_the_chosen_split_variants() -> None:
    """A plan carries the binaries built with each layer's chosen config; the split forms tuning
    compiled and did not choose are other variants (SPLIT_K absent from a config means 1)."""
    from types import SimpleNamespace

    from tritium.codegen.binaries import _built_with

    def variant(split: int) -> SimpleNamespace:
        src = SimpleNamespace(
            constants={(1,): 64, (2,): split}, fn=SimpleNamespace(arg_names=["x", "BLOCK_M", "SPLIT_K"])
        )
        return SimpleNamespace(metadata=SimpleNamespace(num_warps=4, num_stages=3), src=src)

    chosen = {"BLOCK_M": 64, "num_warps": 4, "num_stages": 3}
    assert _built_with(variant(1), chosen)
    assert not _built_with(variant(3), chosen)
    assert _built_with(variant(3), {**chosen, "SPLIT_K": 3})


def test_a_kernel_that_cannot_split_says_so(rng: np.random.Generator) -> None:
    """A depthwise convolution (no reduction to share) given SPLIT_K names itself and the config."""
    from tritium.codegen.indexing import Unsupported

    case = (2, 6, 8, 8, 6, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 6)
    module, _ref, fused, kernel = fused_kernel(conv_text(case, "NHWC", "f16"))
    assert not kernel.splittable
    inputs = [(rng.standard_normal(a.type.shape) / 2).astype(np.float16) for a in module.main.args]
    env = dict(zip(module.main.args, (torch.from_numpy(v) for v in inputs)))
    cfg = {"BLOCK_M": 16, "BLOCK_N": 16, "BLOCK_K": 16, "num_warps": 4, "num_stages": 1, "SPLIT_K": 2}
    with pytest.raises(Unsupported, match=f"kernel '{kernel.name}' cannot split its reduction"):
        _run(kernel, [env[v] for v in fused.operands], fused.results[0].type.shape, cfg)
