"""Time and peak memory of loading a BERT-base-sized ONNX file (about 440 MB of weights inline).

    python -m tests.models.bench_loader                  # both exporters
    python -m tests.models.bench_loader --exporter legacy

The file is exported once (HF BertModel, default config, random weights) into the model cache of
tests/models/nets.py, outside the repository. Each measurement runs in a fresh interpreter, so the
peak RSS (VmHWM) belongs to that step alone; ``base`` is the RSS after importing tritium and
onnx, before the model is touched.

- ``load``: ``load_model(path)`` and ``tensor_to_array`` of every initializer.
- ``import``: ``tritium.frontends.onnx.import_onnx(path)`` (when converters are still missing it
  raises OnnxImportError after visiting every node; the time is measured up to that point).
- ``--proto FILE``: measure another implementation of ``load_model``/``tensor_to_array`` (a copy of
  an older compiler/frontends/onnx/proto.py, for comparison).
- ``touch``: ``load`` and then reading every weight byte (mapped pages become resident).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from tests.models import nets

_CHILD = r"""
import json, sys, time
import numpy as np, onnx
import tritium
from tritium.frontends.onnx import OnnxImportError, import_onnx
from tritium.frontends.onnx.proto import load_model, tensor_to_array

def status_mb(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
path, step, alt = sys.argv[1], sys.argv[2], sys.argv[3]
if alt:  # another implementation of load_model/tensor_to_array (e.g. an older proto.py)
    import importlib.util
    import tritium.frontends.onnx.importer as importer
    spec = importlib.util.spec_from_file_location("alt_proto", alt)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    load_model = importer.load_model = mod.load_model
    tensor_to_array = importer.tensor_to_array = mod.tensor_to_array
base = status_mb("VmRSS")
t0 = time.perf_counter()
out = {}
if step in ("load", "touch"):
    proto, folder = load_model(path)
    arrays = [tensor_to_array(t, folder) for t in proto.graph.initializer]
    out["weights_mb"] = sum(a.nbytes for a in arrays) / 1e6
    if step == "touch":
        out["checksum"] = float(sum(float(np.sum(a, dtype=np.float64)) for a in arrays))
else:
    try:
        m = import_onnx(path)
        out["result"] = "ok"
    except OnnxImportError as e:
        out["result"] = f"OnnxImportError ({len(e.errors)} nodes)"
out["seconds"] = time.perf_counter() - t0
out["base_mb"] = base
out["peak_mb"] = status_mb("VmHWM")  # this process image's peak (ru_maxrss survives exec)
out["end_mb"] = status_mb("VmRSS")
print(json.dumps(out))
"""


BERT_BASE_TAG = "bert-base-v1"
"""Cache tag of the BERT-base files (change it when `bert_base` changes; they take ~15 s to export)."""


def bert_base(exporter: str) -> Path:
    """BERT-base (BertModel, default config: 12 layers, hidden 768, vocab 30522) exported to ONNX."""
    path = nets.cache_dir(BERT_BASE_TAG) / f"bert_base-{exporter}.onnx"
    if path.exists():
        return path
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    names = ("input_ids", "attention_mask", "token_type_ids")
    module = nets._HFWrapper.make(BertModel(BertConfig()), names, 2)
    example = nets._tokens(np.random.default_rng(0), 30522, 2, 16, types=True)
    dynamic = {k: {0: "batch", 1: "seq"} for k in names}
    return nets.atomic_write(
        path,
        lambda tmp: nets.export_module(
            module, example, tmp, exporter, ("last_hidden_state", "pooler_output"), dynamic, {"seq": 512}
        ),
    )


def measure(path: Path, step: str, proto: str = "") -> dict:
    """One step (load, import or touch) in a fresh interpreter: seconds and RSS figures in MB."""
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), step, proto], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{step} of {path} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--exporter", choices=nets.EXPORTERS, action="append")
    ap.add_argument("--steps", default="load,import,touch")
    ap.add_argument("--proto", default="", help="measure this file's load_model/tensor_to_array instead")
    args = ap.parse_args()
    for exporter in args.exporter or nets.EXPORTERS:
        t0 = time.perf_counter()
        fresh = not (nets.cache_dir(BERT_BASE_TAG) / f"bert_base-{exporter}.onnx").exists()
        path = bert_base(exporter)
        size = path.stat().st_size / 1e6
        note = f", exported in {time.perf_counter() - t0:.0f} s" if fresh else ""
        print(f"bert_base-{exporter}: {path} ({size:.0f} MB{note})")
        for step in args.steps.split(","):
            r = measure(path, step, args.proto)
            extra = f" {r['result']}" if "result" in r else ""
            print(
                f"  {step:6s} {r['seconds']:6.2f} s  peak RSS {r['peak_mb']:6.0f} MB"
                f" (base {r['base_mb']:.0f} MB, peak - base = {(r['peak_mb'] - r['base_mb']) / size:.2f}x file)"
                f"{extra}"
            )


if __name__ == "__main__":
    main()
