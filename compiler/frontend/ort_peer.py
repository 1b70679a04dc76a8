"""onnxruntime as the peer of the CPU kernels: one-node ONNX models run on one thread.

``vta bench cpu-kernels`` times each kit kernel beside onnxruntime executing the same op on
the same tensors: the int8 ops as ONNX's quantized operators (``QLinearConv``,
``QLinearMatMul``, int8 ``MaxPool``, and onnxruntime's ``com.microsoft`` ``QLinearAdd`` /
``QLinearGlobalAveragePool``), the float ones as themselves.  The requantization of a
``QLinear*`` op is a float scale where the kit's is a shift; the multiply-accumulate work
and the tensors are the same.  onnxruntime is a dev dependency (the peer), not a runtime
one: :func:`session` imports it when called.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["session", "qlinear_conv", "qlinear_matmul", "single_op"]

_SCALES = {"xs": 0.05, "ws": 0.01, "ys": 0.5}
"""The scales of the quantized peers (any positive values: the work does not depend on
them)."""


def session(nodes: Sequence[Any], inputs: dict[str, np.ndarray],
            initializers: dict[str, np.ndarray], microsoft: bool = False
            ) -> Callable[..., list[np.ndarray]]:
    """A one-thread onnxruntime session of ``nodes``; returns ``run(*arrays)`` taking the
    ``inputs`` in order."""
    import onnxruntime as ort
    from onnx import helper, numpy_helper

    vis = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype),
                                         a.shape) for n, a in inputs.items()]
    outs = [helper.make_empty_tensor_value_info(o) for o in nodes[-1].output]
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in initializers.items()]
    opsets = [helper.make_opsetid("", 17)]
    if microsoft:
        opsets.append(helper.make_opsetid("com.microsoft", 1))
    model = helper.make_model(helper.make_graph(list(nodes), "peer", vis, outs, inits),
                              opset_imports=opsets)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    names = list(inputs)
    return lambda *arrays: sess.run(None, dict(zip(names, arrays, strict=True)))


def _qparams(weight: bool) -> dict[str, np.ndarray]:
    p = {"xs": np.float32(_SCALES["xs"]), "zp": np.int8(0), "ys": np.float32(_SCALES["ys"])}
    if weight:
        p["ws"] = np.float32(_SCALES["ws"])
    return p


def qlinear_conv(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None,
                 strides: int, pads: int, groups: int = 1) -> Callable[[], Any]:
    """onnxruntime's int8 ``QLinearConv`` of ``x`` (bias int32, square stride and pads)."""
    from onnx import helper

    ins = ["x", "xs", "zp", "w", "ws", "zp", "ys", "zp"] + (["b"] if bias is not None else [])
    node = helper.make_node("QLinearConv", ins, ["y"], strides=[strides] * 2,
                            pads=[pads] * 4, group=groups)
    inits = {"w": weight, **_qparams(True)}
    if bias is not None:
        inits["b"] = bias
    run = session([node], {"x": x}, inits)
    return lambda: run(x)


def qlinear_matmul(x: np.ndarray, weight_t: np.ndarray) -> Callable[[], Any]:
    """onnxruntime's int8 ``QLinearMatMul`` of ``x`` and the ``(K, N)`` weight."""
    from onnx import helper

    node = helper.make_node("QLinearMatMul", ["x", "xs", "zp", "w", "ws", "zp", "ys", "zp"],
                            ["y"])
    run = session([node], {"x": x}, {"w": weight_t, **_qparams(True)})
    return lambda: run(x)


def single_op(op: str, inputs: dict[str, np.ndarray], quantized: bool = False,
              microsoft: bool = False, consts: dict[str, np.ndarray] | None = None,
              extra_inputs: Sequence[str] = (), **attrs: Any) -> Callable[[], Any]:
    """onnxruntime running one ``op`` on ``inputs`` (``quantized``: each input followed by
    its scale and zero point, then the output's, as the ``QLinear*`` ops take them;
    ``extra_inputs`` appended after, e.g. constant ``consts``)."""
    from onnx import helper

    names: list[str] = []
    for n in inputs:
        names += [n, "xs", "zp"] if quantized else [n]
    if quantized:
        names += ["ys", "zp"]
    names += list(extra_inputs)
    node = helper.make_node(op, names, ["y"], domain="com.microsoft" if microsoft else "",
                            **attrs)
    inits = {**(_qparams(False) if quantized else {}), **(consts or {})}
    run = session([node], inputs, inits, microsoft)
    arrays = list(inputs.values())
    return lambda: run(*arrays)


def digits_int8_session(graph: Any, samples: Sequence[np.ndarray]) -> Callable[..., Any]:
    """onnxruntime's own int8 model of the digits CNN (:func:`.models.digits_cnn_graph`
    ``graph``, float): the float ONNX graph quantized by ``onnxruntime.quantization``'s
    ``quantize_static`` (QOperator: ``QLinearConv``, ``QGemm``; int8 activations and
    weights, calibrated on ``samples``), run on one thread; returns ``run(x)``."""
    import os
    import tempfile

    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    p = {k: np.asarray(v, np.float32) for k, v in graph.params.items()}
    nodes = [helper.make_node("Conv", ["image", "conv1.weight", "conv1.bias"], ["c1"],
                              pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "conv2.weight", "conv2.bias"], ["c2"],
                              pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c2"], ["r2"]),
             helper.make_node("MaxPool", ["r2"], ["mp"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["mp"], ["fl"]),
             helper.make_node("Gemm", ["fl", "fc.weight", "fc.bias"], ["logits"], transB=1)]
    shape = list(graph.type_of(graph.inputs[0]).shape)
    model = helper.make_model(helper.make_graph(
        nodes, "digits", [helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v, k) for k, v in p.items()]),
        opset_imports=[helper.make_opsetid("", 17)])

    class Samples(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter([{"image": np.asarray(s, np.float32)} for s in samples])

        def get_next(self) -> dict | None:
            return next(self.it, None)

    with tempfile.TemporaryDirectory() as tmp:
        fp, qp = os.path.join(tmp, "float.onnx"), os.path.join(tmp, "int8.onnx")
        onnx.save(model, fp)
        quantize_static(fp, qp, Samples(), quant_format=QuantFormat.QOperator,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
        qmodel = onnx.load(qp)
    nodes_q = list(qmodel.graph.node)
    inits = {i.name: numpy_helper.to_array(i) for i in qmodel.graph.initializer}
    x0 = np.zeros(shape, np.float32)
    return session(nodes_q, {"image": x0}, inits, microsoft=True)
