"""Weights container and module files: round trip, and clear errors on damaged files."""

from __future__ import annotations

from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

import tritium.ir as ir
from tritium.ir.weights import WeightsFileError, load_tensors, save_tensors


def tensors(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "conv1.weight": rng.standard_normal((8, 3, 3, 3)).astype(np.float32),
        "onnx::Gather_5": rng.integers(0, 9, (7,)),
        "half": rng.standard_normal(5).astype(ml_dtypes.bfloat16),
        "empty": np.zeros((0, 3), np.float32),
        "mask": rng.standard_normal(4) > 0,
    }


def test_weights_roundtrip(tmp_path: Path, rng: np.random.Generator) -> None:
    t = tensors(rng)
    save_tensors(tmp_path / "w.bin", t, {"producer": "test"})
    back, meta = load_tensors(tmp_path / "w.bin")
    assert meta == {"producer": "test"} and list(back) == list(t)
    for k in t:
        assert back[k].dtype == t[k].dtype and back[k].shape == t[k].shape
        np.testing.assert_array_equal(back[k], t[k])
        assert not back[k].flags.writeable


def test_damaged_weights_files(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "w.bin"
    save_tensors(path, tensors(rng))
    data = path.read_bytes()
    hlen = int.from_bytes(data[8:16], "little")
    inside = 16 + hlen + (-(16 + hlen)) % 64 + 100  # a byte inside the first tensor's data
    cases = {
        "flip": data[:inside] + bytes([data[inside] ^ 0xFF]) + data[inside + 1 :],
        "truncate": data[: len(data) - 64],
        "magic": b"NOTMAGIC" + data[8:],
        "header": data[:16] + b"X" + data[17:],
        "short": data[:10],
    }
    expected = {
        "flip": "checksum mismatch",
        "truncate": "truncated",
        "magic": "wrong magic",
        "header": "corrupted header",
        "short": "truncated",
    }
    for name, blob in cases.items():
        bad = tmp_path / f"{name}.bin"
        bad.write_bytes(blob)
        with pytest.raises(WeightsFileError, match=expected[name]) as e:
            load_tensors(bad)
        assert str(bad) in str(e.value)


def test_module_file_roundtrip(tmp_path: Path, rng: np.random.Generator) -> None:
    text = """module @m {
  func.func @main(%x: tensor<2x3xf32>) -> tensor<2x4xf32> {
    %w = nn.constant dense_resource<fc.weight> : tensor<3x4xf32> loc("fc")
    %y = nn.matmul %x, %w : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32> loc("fc")
    func.return %y : tensor<2x4xf32>
  }
}
"""
    m = ir.parse_ir(text)
    w = rng.standard_normal((3, 4)).astype(np.float32)
    m.resources["fc.weight"] = w
    ir.save_module(m, tmp_path / "m.tir")
    assert (tmp_path / "m.tir").read_text() == text
    back = ir.load_module(tmp_path / "m.tir")
    x = rng.standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_allclose(ir.run_reference(back, [x])[0], x @ w, rtol=1e-5)
