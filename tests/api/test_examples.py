"""The examples run as users run them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_tensorrt_style_script_runs_on_tritium(capsys: pytest.CaptureFixture[str]) -> None:
    assert load("tensorrt_style").main() == 0
    out = capsys.readouterr().out
    assert "layer-by-layer network" in out and "parsed ONNX network" in out and out.rstrip().endswith("OK")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_demo_runs_and_matches_the_reference(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.argv", ["demo.py"])
    load("demo").main()
    out = capsys.readouterr().out
    assert "generated Triton" in out and "prob [2, 10]" in out
    err = float(out.rsplit("numpy reference:", 1)[1].split()[0])
    assert err < 1e-5
