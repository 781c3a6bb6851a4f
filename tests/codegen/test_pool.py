"""Pooling kernels with ops fused around them, against onnxruntime."""

from __future__ import annotations

import numpy as np

import tritium as tr


def test_op_after_a_pool_reading_its_input_is_not_fused_wrongly(tmp_path, rng: np.random.Generator) -> None:
    """CenterNet's heatmap peak test, x * (maxpool(x) == x): the compare reads the pool's input at
    the output position, which the pooling kernel does not load, so it stays out of the pooling
    group: two generated kernels, exact."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("MaxPool", ["x"], ["h"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Equal", ["h", "x"], ["k"]),
        helper.make_node("Cast", ["k"], ["kf"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["x", "kf"], ["y"]),
    ]
    shape = [1, 4, 16, 16]
    graph = helper.make_graph(
        nodes,
        "nms",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
    )
    path = tmp_path / "nms.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    x = rng.standard_normal(shape).astype(np.float32)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert (want != 0).any() and (want == 0).any()
    engine = tr.compile(str(path))
    templates = [layer["template"] for layer in engine.inspect({"x": x.shape})["layers"]]
    assert templates == ["pool", "pointwise"], templates
    np.testing.assert_array_equal(engine({"x": x})["y"], want)
