"""IEEE special values for the tests that hold passes and kernels to the reference on them
(tests/passes/test_special_values.py, tests/codegen/test_special_values.py): inputs laced with
them, and the comparison of NaNs, infinities and zero signs."""

from __future__ import annotations

import numpy as np

SPECIALS = np.array(
    [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 65504.0, 1e-8, -1e-8, 0.5, -0.5, 100.0, -100.0]
)


def laced(x: np.ndarray, rng: np.random.Generator, trial: int) -> np.ndarray:
    """``x`` (float) with the ``trial``-th run of SPECIALS written over random places, so that over
    ``trials`` runs every special lands in it; other dtypes unchanged."""
    if x.dtype.kind != "f" or x.size == 0:
        return x
    x = np.array(x, copy=True)
    flat = x.reshape(-1)
    k = min(flat.size, len(SPECIALS))
    picks = (np.arange(k) + trial * k) % len(SPECIALS)
    flat[rng.permutation(flat.size)[:k]] = SPECIALS[picks].astype(x.dtype)
    return x


def trials(sizes: list[int]) -> int:
    """Runs enough for every special to reach each float input of these sizes (at least two)."""
    return max([2, *(-(-len(SPECIALS) // max(n, 1)) for n in sizes)])


def special_mismatch(
    want: np.ndarray, got: np.ndarray, signed_zeros: bool = True
) -> tuple[str | None, np.ndarray]:
    """Where ``got`` puts a NaN, an infinity or a zero's sign otherwise than ``want`` (a message
    naming the first place, or None), and the mask of places finite in both. Non-float results
    must be equal."""
    if want.dtype.kind == "V":  # ml_dtypes' floats
        want, got = want.astype(np.float32), got.astype(np.float32)
    if want.dtype.kind not in "fc":
        return (None if np.array_equal(want, got) else "values differ"), np.zeros(want.shape, bool)
    w, g = want.astype(np.float64), got.astype(np.float64)
    wn, gn = np.where(np.isnan(w), 0.0, w), np.where(np.isnan(g), 0.0, g)
    checks = {
        "NaNs in other places": np.isnan(w) != np.isnan(g),
        "infinities differ": np.isinf(wn) * np.sign(wn) != np.isinf(gn) * np.sign(gn),
        "a zero changed sign": (w == 0) & (g == 0) & (np.signbit(w) != np.signbit(g)) & signed_zeros,
    }
    for what, bad in checks.items():
        if bad.any():
            at = tuple(int(i) for i in np.argwhere(bad)[0])
            return f"{what} at {at}: want {w[at]!r}, got {g[at]!r}", np.isfinite(w) & np.isfinite(g)
    return None, np.isfinite(w) & np.isfinite(g)
