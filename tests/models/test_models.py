"""Whole models (HF BERT, DistilBERT, GPT-2, ViT; ResNet- and MobileNetV2-style CNNs), exported with
both torch exporters, run through ``tritium.compile(path, backend="reference")`` and compared with
onnxruntime on fresh random inputs: ||tritium - ort|| / ||ort|| <= 1e-4 for every output.

Models and export live in tests/models/nets.py; exported files are cached (the first run exports,
about 45 s). ``python -m tests.models.zoo`` runs every case and prints the XFAIL table below.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.models import nets, zoo
from tritium.ir.diagnostics import TritiumError

# The one list of cases that cannot pass yet, each with the reason a real run gives (regenerate:
# python -m tests.models.zoo). A listed case that passes fails (strict xfail); one that fails with
# anything but a compiler error (a wrong result, a missing output) fails too.
XFAIL: dict[tuple[str, str], str] = {
    # ("model", "exporter"): "reason, e.g. no converter for Gelu, Gemm", from python -m tests.models.zoo
}


def _params() -> list:
    out = []
    for name, exporter in zoo.CASES:
        reason = XFAIL.get((name, exporter))
        marks = [pytest.mark.xfail(strict=True, raises=TritiumError, reason=reason)] if reason else []
        out.append(pytest.param(name, exporter, marks=marks, id=f"{name}-{exporter}"))
    return out


@pytest.mark.parametrize(("name", "exporter"), _params())
def test_model_matches_onnxruntime(name: str, exporter: str, rng: np.random.Generator) -> None:
    path = zoo.exported(name, exporter)
    inputs = zoo.MODELS[name].inputs(rng, False)
    errors = zoo.compare_with_onnxruntime(path, inputs)
    shapes = {k: v.shape for k, v in inputs.items()}
    print(f"{name}-{exporter} inputs {shapes}: relative errors {errors}")
    assert errors.keys() == set(zoo.MODELS[name].outputs)
    bad = {k: v for k, v in errors.items() if not v <= zoo.TOLERANCE}
    assert not bad, f"relative error above {zoo.TOLERANCE}: {bad}"


def test_xfail_table_names_real_cases() -> None:
    assert set(XFAIL) <= set(zoo.CASES), sorted(set(XFAIL) - set(zoo.CASES))


def test_cache_writes_are_atomic(tmp_path) -> None:
    """Concurrent exports of one file leave one whole version; a failed export leaves nothing."""
    import threading

    path = tmp_path / "cache" / "m.onnx"
    contents = [bytes([i]) * 300_000 for i in range(8)]

    def write(data: bytes) -> None:
        def w(tmp) -> None:
            with open(tmp, "wb") as f:
                for k in range(0, len(data), 1000):  # slowly, so writers overlap
                    f.write(data[k : k + 1000])

        nets.atomic_write(path, w)

    threads = [threading.Thread(target=write, args=(c,)) for c in contents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert path.read_bytes() in contents
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.onnx"]

    def fail(tmp) -> None:
        tmp.write_bytes(b"partial")
        raise RuntimeError("export failed")

    other = path.with_name("n.onnx")
    with pytest.raises(RuntimeError, match="export failed"):
        nets.atomic_write(other, fail)
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.onnx"]
