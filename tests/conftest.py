"""Shared test setup: fresh random inputs for every numeric test, and the GPU marker."""

from __future__ import annotations

import os

import numpy as np
import pytest


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


if not _has_cuda():  # generated kernels run under Triton's CPU interpreter (must be set before triton loads)
    os.environ.setdefault("TRITON_INTERPRET", "1")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _has_cuda():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng() -> np.random.Generator:
    """A generator seeded differently on every run (the seed is printed on failure; set
    ``TRITIUM_TEST_SEED`` to replay one)."""
    seed = int(os.environ.get("TRITIUM_TEST_SEED") or int.from_bytes(os.urandom(4), "little"))
    print(f"random seed: {seed}")
    return np.random.default_rng(seed)
