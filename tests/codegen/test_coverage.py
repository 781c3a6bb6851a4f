"""Every op either has a generated-kernel path or is explicitly a host fallback.

For each op case of tests/ir/op_cases, the module is compiled with the Triton backend (under the
interpreter here) and run on the case's inputs: outputs must match the reference semantics, and a
kernel that falls back to the host must consist only of ops listed in HOST_FALLBACK with a reason.
"""

from __future__ import annotations

import numpy as np
import pytest

import tritium as tr
from tests.ir.op_cases import CASES
from tritium.codegen.lowering import RULES
from tritium.ir import parse_ir
from tritium.passes.fusion_policy import classify

# Elementwise ops without a Triton lowering rule yet, and why. Everything else elementwise must generate.
HOST_FALLBACK: dict[str, str] = {
    "nn.pow": "integer exponents of integer bases have no rule",
    "nn.bit_cast": "reinterpretation has no rule",
    "nn.binarizer": "classic-ML op (ai.onnx.ml)",
    "nn.label_encoder": "classic-ML op on strings",
    "nn.regex_full_match": "string op",
    "nn.string_concat": "string op",
}


def _main_op_kind(text: str) -> list[str]:
    module = parse_ir(text)
    return [classify(op) for op in module.walk() if op.name.startswith("nn.") and op.name != "nn.constant"]


ELEMENTWISE_CASES = [
    (name, i, case)
    for name, cases in CASES.items()
    for i, case in enumerate(cases)
    if name.startswith("nn.")
    and _main_op_kind(case.ir)
    and all(k == "elementwise" for k in _main_op_kind(case.ir))
]


def test_every_elementwise_op_has_a_rule_or_a_reason() -> None:
    from tritium.ir import OP_REGISTRY

    missing = []
    for name, cls in sorted(OP_REGISTRY.items()):
        if not name.startswith("nn.") or name in RULES or name in HOST_FALLBACK:
            continue
        from tritium.ir.opdef import Elementwise
        from tritium.passes.fusion_policy import ELEMENTWISE_EXTRA

        if Elementwise in cls.TRAITS or name in ELEMENTWISE_EXTRA:
            missing.append(name)
    assert not missing, f"elementwise ops with neither a lowering rule nor a HOST_FALLBACK entry: {missing}"


@pytest.mark.parametrize(
    "name,index,case", ELEMENTWISE_CASES, ids=[f"{n}-{i}" for n, i, _ in ELEMENTWISE_CASES]
)
def test_generated_elementwise_kernels_match_reference(
    name: str, index: int, case, rng: np.random.Generator
) -> None:
    module = parse_ir(case.ir)
    inputs = case.inputs(rng)
    if "xstring>" in case.ir:
        pytest.skip("string tensors run on the reference backend only (no device representation)")
    want = tr.compile(parse_ir(case.ir), backend="reference")(inputs)
    engine = tr.compile(module)
    got = engine(inputs)
    hosts = engine.host_steps({n: tuple(x.shape) for n, x in zip(engine.input_names, inputs)})
    if hosts:
        ops = {op.name for op in module.walk() if op.name.startswith("nn.") and op.name != "nn.constant"}
        assert ops <= set(HOST_FALLBACK) | {"nn.constant"}, (
            f"{sorted(ops - set(HOST_FALLBACK))} ran on the host"
        )
    for k in want:
        w, g = np.asarray(want[k]), np.asarray(got[k])
        assert w.shape == g.shape and w.dtype == g.dtype
        if w.dtype.kind == "f":
            np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=2e-5, atol=1e-6)
        else:
            np.testing.assert_array_equal(g, w)


MOVEMENT = {
    "nn.transpose",
    "nn.expand",
    "nn.tile",
    "nn.slice",
    "nn.pad",
    "nn.gather",
    "nn.gather_nd",
    "nn.concat",
    "nn.split",
    "nn.depth_to_space",
    "nn.space_to_depth",
}
MOVEMENT_CASES = [
    (name, i, case) for name, cases in CASES.items() for i, case in enumerate(cases) if name in MOVEMENT
]


@pytest.mark.parametrize("name,index,case", MOVEMENT_CASES, ids=[f"{n}-{i}" for n, i, _ in MOVEMENT_CASES])
def test_generated_movement_kernels_match_reference(
    name: str, index: int, case, rng: np.random.Generator
) -> None:
    """Data-movement ops with static shapes and constant structure run as generated kernels."""
    inputs = case.inputs(rng)
    want = tr.compile(parse_ir(case.ir), backend="reference")(inputs)
    module = parse_ir(case.ir)
    engine = tr.compile(module)
    got = engine(inputs)
    hosts = engine.host_steps({n: tuple(x.shape) for n, x in zip(engine.input_names, inputs)})
    moved = [h for h in hosts if "data_movement" in h or name.split(".")[1] in h]
    assert not moved, f"{name} ran on the host: {hosts}"
    for k in want:
        np.testing.assert_array_equal(np.asarray(got[k]), np.asarray(want[k]))


POOL_CASES = [
    (name, i, case)
    for name, cases in CASES.items()
    for i, case in enumerate(cases)
    if name in ("nn.max_pool", "nn.average_pool", "nn.global_average_pool", "nn.global_max_pool")
]


@pytest.mark.parametrize("name,index,case", POOL_CASES, ids=[f"{n}-{i}" for n, i, _ in POOL_CASES])
def test_generated_pool_kernels_match_reference(
    name: str, index: int, case, rng: np.random.Generator
) -> None:
    """Pools over 1 to 3 spatial dims run as generated kernels (max-pool indices may run on the host)."""
    inputs = case.inputs(rng)
    want = tr.compile(parse_ir(case.ir), backend="reference")(inputs)
    engine = tr.compile(parse_ir(case.ir))
    got = engine(inputs)
    for k in want:
        np.testing.assert_allclose(np.asarray(got[k]), np.asarray(want[k]), rtol=1e-5, atol=1e-6)
    module = parse_ir(case.ir)
    x = module.main.args[0].type
    uses_indices = any(op.name == "nn.max_pool" and op.results[1].uses for op in module.walk())
    if x.rank in (3, 4, 5) and not uses_indices:
        assert not engine.host_steps({n: tuple(v.shape) for n, v in zip(engine.input_names, inputs)})
