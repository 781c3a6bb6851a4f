"""A script written against TensorRT 10's Python API, running on Tritium by changing one import.

It builds a small CNN layer by layer and parses an ONNX model; both get FP16 and a dynamic-batch
optimization profile, are serialized, deserialized and run with ``execute_async_v3`` on bound tensor
addresses, and are checked against PyTorch. On a GPU the tensors live on it and a CUDA stream is
used; on the CPU the same calls run the generated kernels under Triton's interpreter.

    python examples/tensorrt_style.py
"""

from __future__ import annotations

import io
import sys

import numpy as np
import torch

import tritium as trt  # was: import tensorrt as trt

LOGGER = trt.Logger(trt.Logger.WARNING)
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def build_layer_by_layer(weights: dict[str, np.ndarray]) -> trt.INetworkDefinition:
    builder = trt.Builder(LOGGER)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    x = network.add_input(name="input", dtype=trt.float32, shape=(-1, 3, 16, 16))
    conv = network.add_convolution_nd(
        x, 8, (3, 3), trt.Weights(weights["conv_w"]), trt.Weights(weights["conv_b"])
    )
    conv.stride_nd = (1, 1)
    conv.padding_nd = (1, 1)
    relu = network.add_activation(conv.get_output(0), trt.ActivationType.RELU)
    pool = network.add_pooling_nd(relu.get_output(0), trt.PoolingType.MAX, (2, 2))
    pool.stride_nd = (2, 2)
    flat = network.add_shuffle(pool.get_output(0))
    flat.reshape_dims = (0, -1)
    fc_w = network.add_constant((10, 8 * 8 * 8), trt.Weights(weights["fc_w"]))
    fc = network.add_matrix_multiply(
        flat.get_output(0), trt.MatrixOperation.NONE, fc_w.get_output(0), trt.MatrixOperation.TRANSPOSE
    )
    bias = network.add_constant((1, 10), trt.Weights(weights["fc_b"]))
    logits = network.add_elementwise(fc.get_output(0), bias.get_output(0), trt.ElementWiseOperation.SUM)
    probs = network.add_softmax(logits.get_output(0))
    probs.axes = 1 << 1
    probs.get_output(0).name = "probs"
    network.mark_output(probs.get_output(0))
    return network


def parse_onnx(model_bytes: bytes) -> trt.INetworkDefinition:
    builder = trt.Builder(LOGGER)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, LOGGER)
    if not parser.parse(model_bytes):
        for i in range(parser.num_errors):
            print(parser.get_error(i), file=sys.stderr)
        raise SystemExit("ONNX parse failed")
    return network


def build_plan(network: trt.INetworkDefinition, input_name: str, shape: tuple[int, ...]) -> bytes:
    builder = trt.Builder(LOGGER)
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 30)
    config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    profile.set_shape(input_name, (1, *shape), (4, *shape), (8, *shape))
    config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise SystemExit("build failed")
    return plan


def infer(plan: bytes, batch: np.ndarray) -> dict[str, np.ndarray]:
    runtime = trt.Runtime(LOGGER)
    engine = runtime.deserialize_cuda_engine(plan)
    context = engine.create_execution_context()
    stream = torch.cuda.Stream() if DEVICE == "cuda" else None
    buffers = {}
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
            context.set_input_shape(name, batch.shape)
            buffers[name] = torch.from_numpy(batch.astype(trt.nptype(engine.get_tensor_dtype(name)))).to(
                DEVICE
            )
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        if engine.get_tensor_mode(name) == trt.TensorIOMode.OUTPUT:
            shape = tuple(context.get_tensor_shape(name))
            dtype = torch.from_numpy(np.zeros(0, trt.nptype(engine.get_tensor_dtype(name)))).dtype
            buffers[name] = torch.empty(shape, dtype=dtype, device=DEVICE)
    for name, t in buffers.items():
        context.set_tensor_address(name, t.data_ptr())
    context.execute_async_v3(stream_handle=stream.cuda_stream if stream is not None else 0)
    if stream is not None:
        stream.synchronize()
    return {
        n: t.cpu().numpy() for n, t in buffers.items() if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT
    }


def torch_cnn(weights: dict[str, np.ndarray]) -> torch.nn.Module:
    conv = torch.nn.Conv2d(3, 8, 3, padding=1)
    fc = torch.nn.Linear(8 * 8 * 8, 10)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(weights["conv_w"]))
        conv.bias.copy_(torch.from_numpy(weights["conv_b"]))
        fc.weight.copy_(torch.from_numpy(weights["fc_w"]))
        fc.bias.copy_(torch.from_numpy(weights["fc_b"]))
    return torch.nn.Sequential(
        conv, torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(), fc, torch.nn.Softmax(1)
    ).eval()


def main() -> int:
    rng = np.random.default_rng(0)
    weights = {
        "conv_w": rng.standard_normal((8, 3, 3, 3)).astype(np.float32) * 0.3,
        "conv_b": rng.standard_normal(8).astype(np.float32) * 0.1,
        "fc_w": rng.standard_normal((10, 512)).astype(np.float32) * 0.05,
        "fc_b": rng.standard_normal(10).astype(np.float32) * 0.1,
    }
    model = torch_cnn(weights)
    batch = rng.standard_normal((3, 3, 16, 16)).astype(np.float32)
    want = model(torch.from_numpy(batch)).detach().numpy()
    worst = 0.0

    plan = build_plan(build_layer_by_layer(weights), "input", (3, 16, 16))
    got = infer(plan, batch)["probs"]
    err = float(np.abs(got - want).max())
    print(f"layer-by-layer network, FP16, batch 3: max |error| vs torch = {err:.2e}")
    worst = max(worst, err)

    buf = io.BytesIO()
    torch.onnx.export(
        model, (torch.from_numpy(batch),), buf, input_names=["image"], output_names=["probs"],
        dynamic_axes={"image": {0: "batch"}, "probs": {0: "batch"}}, dynamo=False,
    )  # fmt: skip
    plan = build_plan(parse_onnx(buf.getvalue()), "image", (3, 16, 16))
    got = infer(plan, batch)["probs"]
    err = float(np.abs(got - want).max())
    print(f"parsed ONNX network,     FP16, batch 3: max |error| vs torch = {err:.2e}")
    worst = max(worst, err)
    ok = worst < 5e-3
    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
