"""FP8 on a whole model: HF BERT-base (random weights, sequence 128) quantized to float 8 (e4m3) the
way TensorRT's FP8 recipe does it: Q/DQ on the input of every MatMul with a weight (one scale per
tensor, calibrated as amax / 448 on random batches) and on its weight (one scale per output column).
Built by Tritium with FP16 for what is not quantized, and timed against Tritium's FP16 build of the
same network in the same process. Accuracy: cosine against FP32 torch.

    python benchmarks/bench_fp8.py --batch 32 --out $OUT/bench_fp8.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import ml_dtypes
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_models import bench, build, profile_by_kind

import tritium as tr

E4M3_MAX = 448.0


def quantize_fp8(fp32: Path, out: Path, calibration: list[dict[str, np.ndarray]]) -> int:
    """Write ``fp32`` with float 8 Q/DQ around each MatMul whose second input is a 2-D weight;
    returns how many MatMuls were quantized."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(fp32))
    weights = {i.name: i for i in model.graph.initializer}
    targets = [
        n
        for n in model.graph.node
        if n.op_type == "MatMul" and n.input[1] in weights and len(weights[n.input[1]].dims) == 2
    ]
    # calibration: each target's activation amax over the batches (onnxruntime, CPU, FP32)
    probe = onnx.load(str(fp32))
    seen = {o.name for o in probe.graph.output}
    for n in targets:
        if n.input[0] not in seen:
            probe.graph.output.append(helper.make_tensor_value_info(n.input[0], TensorProto.FLOAT, None))
            seen.add(n.input[0])
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    amax: dict[str, float] = {}
    for feed in calibration:
        for name, value in zip(names, session.run(None, feed)):
            amax[name] = max(amax.get(name, 0.0), float(np.abs(value).max()))
    zero = helper.make_tensor(
        "fp8_zero", TensorProto.FLOAT8E4M3FN, [], np.zeros(1, np.uint8).tobytes(), raw=True
    )
    model.graph.initializer.append(zero)
    nodes = []
    for n in model.graph.node:
        if n not in targets:
            nodes.append(n)
            continue
        x, w_name = n.input[0], n.input[1]
        w = numpy_helper.to_array(weights[w_name]).astype(np.float32)  # [K, N]
        sw = np.maximum(np.abs(w).max(axis=0), 1e-12) / E4M3_MAX
        wq = (w / sw).astype(ml_dtypes.float8_e4m3fn)
        tag = n.name or w_name
        model.graph.initializer.extend(
            [
                helper.make_tensor(
                    f"{tag}.wq", TensorProto.FLOAT8E4M3FN, wq.shape, wq.view(np.uint8).tobytes(), raw=True
                ),
                numpy_helper.from_array(sw.astype(np.float32), f"{tag}.sw"),
                numpy_helper.from_array(np.array(max(amax[x], 1e-12) / E4M3_MAX, np.float32), f"{tag}.sx"),
            ]
        )
        nodes += [
            helper.make_node("QuantizeLinear", [x, f"{tag}.sx", "fp8_zero"], [f"{tag}.xq"]),
            helper.make_node("DequantizeLinear", [f"{tag}.xq", f"{tag}.sx", "fp8_zero"], [f"{tag}.xd"]),
            helper.make_node("DequantizeLinear", [f"{tag}.wq", f"{tag}.sw"], [f"{tag}.wd"], axis=1),
        ]
        n.input[0], n.input[1] = f"{tag}.xd", f"{tag}.wd"
        nodes.append(n)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    for op in model.opset_import:
        if op.domain in ("", "ai.onnx") and op.version < 19:
            op.version = 19  # float 8 Q/DQ (the export is opset 19 already, see main)
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    return len(targets)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--tuning-budget", type=float, default=90.0)
    ap.add_argument("--out", default=os.path.join(os.environ.get("OUT", "."), "bench_fp8.json"))
    ap.add_argument("--cache", default=os.path.join(os.environ.get("OUT", "."), "timing_cache.json"))
    ap.add_argument("--profile", action="store_true", help="per-layer times: by kind and the slowest")
    args = ap.parse_args()
    b = args.batch
    work = Path(tempfile.mkdtemp())
    model, inputs, _ = build("bert")
    example = inputs(b)
    fp32, fp8 = work / "bert.onnx", work / "bert_fp8.onnx"
    torch.onnx.export(
        model, tuple(example.values()), str(fp32), input_names=list(example), output_names=["out"],
        opset_version=19, dynamo=False,
    )  # fmt: skip
    calibration = [{k: v.numpy() for k, v in inputs(b).items()} for _ in range(2)]  # (the export's batch)
    t0 = time.perf_counter()
    quantized = quantize_fp8(fp32, fp8, calibration)
    res: dict = {"card": torch.cuda.get_device_name(), "batch": b, "quantized_matmuls": quantized}
    res["quantize_s"] = time.perf_counter() - t0
    dev = {k: v.cuda() for k, v in example.items()}
    with torch.inference_mode():
        ref = model.cuda()(**dev).float()
    for label, path in (("fp16", fp32), ("fp8", fp8)):
        t0 = time.perf_counter()
        engine = tr.compile(
            str(path), fp16=True, device="cuda", timing_cache=args.cache, tuning_budget_s=args.tuning_budget
        )
        build_s = time.perf_counter() - t0
        got = engine(dev)["out"].float()
        layers = engine.inspect({k: tuple(v.shape) for k, v in dev.items()})["layers"]
        res[label] = {
            "build_s": build_s,
            "ms": bench(lambda engine=engine: engine(dev)),
            "cosine_vs_fp32_torch": float(
                torch.nn.functional.cosine_similarity(got.flatten(), ref.flatten(), dim=0)
            ),
            "kernels": len(layers),
            "host_layers": [layer["name"] for layer in layers if layer["tactic"] == "host reference"],
            "float8_layers": sum(any("float8" in op for op in layer["fused_ops"]) for layer in layers),
        }
        if args.profile:
            res[label]["profile"] = profile_by_kind(engine, dev)
        print(label, json.dumps(res[label]), flush=True)
        del engine
    res["fp8_speedup_vs_fp16"] = res["fp16"]["ms"] / res["fp8"]["ms"]
    print(json.dumps(res, indent=1))
    Path(args.out).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
