"""Device math on a CUDA GPU (skipped without one): the generated kernels' approximations (exp2,
rsqrt) are the hardware's there (MUFU), not numpy's as under the interpreter, so the checks of
every 16-bit input run again on the card."""

from __future__ import annotations

import pytest

from tests.codegen.test_pointwise import check_erf_gelu_16, check_tanh_gelu_16

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("dt", ["f16", "bf16"])
def test_erf_gelu_on_every_16_bit_input_on_the_gpu(dt: str) -> None:
    check_erf_gelu_16(dt, "cuda")


@pytest.mark.parametrize("dt", ["f16", "bf16"])
def test_tanh_gelu_on_every_16_bit_input_on_the_gpu(dt: str) -> None:
    check_tanh_gelu_16(dt, "cuda")
