"""INT8 on a whole model (issue 5's quantization path): torchvision ResNet-50 (random weights,
re-randomized) quantized by onnxruntime's ``quantize_static`` (QDQ, int8, symmetric, per-channel
weights, calibrated on random images), built by Tritium with FP16 for what is not quantized, and
timed against Tritium's FP16 build of the same network in the same process. Accuracy: cosine and
top-1 agreement against FP32 torch, and against onnxruntime (CPU) running the quantized model.

    python benchmarks/bench_int8.py --batch 32 --out $OUT/bench_int8.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_models import bench, profile_by_kind, rerandomize

import tritium as tr


def main() -> None:
    import torchvision
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--calibration-batches", type=int, default=2)
    ap.add_argument("--tuning-budget", type=float, default=90.0)
    ap.add_argument("--out", default=os.path.join(os.environ.get("OUT", "."), "bench_int8.json"))
    ap.add_argument("--cache", default=os.path.join(os.environ.get("OUT", "."), "timing_cache.json"))
    ap.add_argument("--profile", action="store_true", help="per-layer times: by kind and the slowest")
    ap.add_argument(
        "--activations",
        choices=["i8", "u8"],
        default="i8",
        help="symmetric int8 activations, or onnxruntime's default asymmetric uint8 with zero points",
    )
    args = ap.parse_args()
    b = args.batch
    work = Path(tempfile.mkdtemp())
    torch.manual_seed(0)  # the same network and inputs in every run
    model = torchvision.models.resnet50().eval()
    rerandomize(model)
    fp32, int8 = work / "resnet50.onnx", work / "resnet50_int8.onnx"
    torch.onnx.export(
        model,
        (torch.randn(b, 3, 224, 224),),
        str(fp32),
        input_names=["input"],
        output_names=["out"],
        dynamo=False,
    )
    rng = np.random.default_rng(0)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(
                [
                    {"input": rng.standard_normal((b, 3, 224, 224)).astype(np.float32)}
                    for _ in range(args.calibration_batches)
                ]
            )

        def get_next(self):
            return next(self.batches, None)

    t0 = time.perf_counter()
    quantize_static(
        str(fp32),
        str(int8),
        Reader(),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QInt8 if args.activations == "i8" else QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
        extra_options={"ActivationSymmetric": args.activations == "i8", "WeightSymmetric": True},
    )
    res: dict = {"card": torch.cuda.get_device_name(), "batch": b, "activations": args.activations}
    res["quantize_s"] = time.perf_counter() - t0
    x = torch.randn(b, 3, 224, 224, device="cuda")
    with torch.inference_mode():
        ref = model.cuda()(x).float()
    # The INT8 oracle: onnxruntime (CPU) running the same quantized model. Against it Tritium's
    # INT8 differs by rounding only; against FP32 torch it differs by the quantization itself.
    import onnxruntime as ort

    ort_out = ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"]).run(
        None, {"input": x.cpu().numpy()}
    )[0]
    ort_ref = torch.from_numpy(ort_out).cuda().float()
    for label, path in (("fp16", fp32), ("int8", int8)):
        t0 = time.perf_counter()
        engine = tr.compile(
            str(path), fp16=True, device="cuda", timing_cache=args.cache, tuning_budget_s=args.tuning_budget
        )
        build_s = time.perf_counter() - t0
        got = engine({"input": x})["out"].float()
        layers = engine.inspect({"input": tuple(x.shape)})["layers"]
        res[label] = {
            "build_s": build_s,
            "ms": bench(lambda engine=engine: engine({"input": x})),
            "cosine_vs_fp32_torch": float(
                torch.nn.functional.cosine_similarity(got.flatten(), ref.flatten(), dim=0)
            ),
            "top1_agree": float((got.argmax(1) == ref.argmax(1)).float().mean()),
            "cosine_vs_onnxruntime_int8": float(
                torch.nn.functional.cosine_similarity(got.flatten(), ort_ref.flatten(), dim=0)
            ),
            "top1_agree_vs_onnxruntime_int8": float((got.argmax(1) == ort_ref.argmax(1)).float().mean()),
            "kernels": len(layers),
            "host_layers": [layer["name"] for layer in layers if layer["tactic"] == "host reference"],
            "integer_layers": sum(any("integer" in op for op in layer["fused_ops"]) for layer in layers),
        }
        if args.profile:
            res[label]["profile"] = profile_by_kind(engine, {"input": x})
        print(label, json.dumps(res[label]), flush=True)
        del engine
    res["int8_speedup_vs_fp16"] = res["fp16"]["ms"] / res["int8"]["ms"]
    print(json.dumps(res, indent=1))
    Path(args.out).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
