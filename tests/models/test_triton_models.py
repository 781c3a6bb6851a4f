"""Whole models on the Triton backend: build -> serialize -> deserialize -> run, on the CPU under
Triton's interpreter (on a GPU when there is one), compared with onnxruntime (rel. error <= 1e-4).

This is the deploy path of DESIGN.md section 1 end to end: the plan is bytes, the loaded engine
regenerates its kernels from the plan's IR, and its outputs must match the oracle.
"""

from __future__ import annotations

import numpy as np
import pytest

import tritium as tr
from tests.models import zoo


@pytest.mark.parametrize(("name", "exporter"), zoo.CASES, ids=[f"{n}-{e}" for n, e in zoo.CASES])
def test_plan_roundtrip_matches_onnxruntime(name: str, exporter: str, rng: np.random.Generator) -> None:
    path = zoo.exported(name, exporter)
    inputs = zoo.MODELS[name].inputs(rng, False)
    built = tr.compile(str(path))
    plan = built.serialize()
    engine = tr.Runtime(tr.Logger(tr.Logger.ERROR)).deserialize_cuda_engine(plan)
    errors = zoo.compare_with_onnxruntime(path, inputs, engine)
    layers = engine.inspect({k: v.shape for k, v in inputs.items()})["layers"]
    generated = sum(layer["tactic"] != "host reference" for layer in layers)
    print(
        f"{name}-{exporter}: {len(plan) / 1e6:.2f} MB plan, {generated}/{len(layers)} layers generated, "
        f"errors {errors}"
    )
    bad = {k: v for k, v in errors.items() if not v <= zoo.TOLERANCE}
    assert not bad, f"relative error above {zoo.TOLERANCE}: {bad}"
    if name.startswith(("resnet", "mobilenet")):  # CNNs run every layer on generated kernels
        host = [layer["name"] for layer in layers if layer["tactic"] == "host reference"]
        assert not host, f"layers on the host reference: {host}"
