"""vta.compiler.zoo: real network graphs, offline, with seeded weights.

Each model is an ``onnx.ModelProto`` built node for node the way its exporter
(torch.onnx.export, tf2onnx) writes that architecture (see :mod:`.cnns`,
:mod:`.transformer`); nothing is downloaded.  ::

    from vta.compiler import zoo
    zoo.names()                       # ('resnet18', 'resnet50', 'mobilenet_v2', ...)
    model = zoo.load("mobilenet_v2", seed=0)
    inputs = zoo.sample_inputs("mobilenet_v2", seed=0)   # dict of arrays by input name

``vta run <name>`` compiles and runs one; ``vta bench zoo`` measures them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from vta.hw.errors import VTAError

__all__ = ["names", "load", "sample_inputs", "info", "ModelInfo", "ZooError"]


class ZooError(VTAError, KeyError):
    """An unknown zoo model name."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class ModelInfo:
    """What a zoo model is.

    Members
    -------
    name, description:
        Registry name and one line about the architecture and its source.
    task:
        ``classifier`` (top-1 is meaningful), ``detector``, ``generator``, ``autoencoder``
        or ``encoder``.
    build:
        ``build(seed) -> ModelProto``.
    small:
        Small enough to be a test on fsim (seconds), not only a benchmark.
    """

    name: str
    description: str
    task: str
    build: Callable[[int], Any]
    small: bool = False


def _resnet18(seed: int) -> Any:
    from ..frontend.models import resnet18_onnx
    return resnet18_onnx(seed)


def _registry() -> dict[str, ModelInfo]:
    from . import cnns, transformer

    entries = [
        ModelInfo("resnet18", "ResNet-18 v1 (TVM's VTA benchmark), 224x224, BN as nodes",
                  "classifier", _resnet18),
        ModelInfo("resnet50", "torchvision ResNet-50 v1.5, 224x224, BN folded by the exporter",
                  "classifier", cnns.resnet50),
        ModelInfo("mobilenet_v2", "torchvision MobileNet-v2, 224x224: depthwise convs, ReLU6 "
                  "as Clip, inverted residuals", "classifier", cnns.mobilenet_v2),
        ModelInfo("yolov3_tiny", "Ultralytics YOLOv3-tiny, 416x416: LeakyRelu, MaxPool stride "
                  "1 after ZeroPad, nearest Resize, Concat, two heads", "detector",
                  cnns.yolov3_tiny),
        ModelInfo("dcgan", "PyTorch DCGAN generator, 100-d latent -> 64x64 RGB: ConvTranspose "
                  "+ BatchNorm + ReLU, Tanh", "generator", cnns.dcgan_generator),
        ModelInfo("resnet8", "MLPerf Tiny image classification, ResNet-8 on CIFAR-10 "
                  "(Keras via tf2onnx)", "classifier", cnns.resnet8, small=True),
        ModelInfo("ds_cnn", "MLPerf Tiny keyword spotting, DS-CNN on 49x10 MFCCs (Keras via "
                  "tf2onnx): depthwise-separable blocks", "classifier", cnns.ds_cnn,
                  small=True),
        ModelInfo("autoencoder", "MLPerf Tiny anomaly detection, the dense autoencoder on "
                  "640 features (Keras via tf2onnx)", "autoencoder", cnns.anomaly_autoencoder,
                  small=True),
        ModelInfo("bert_tiny", "BERT-tiny encoder (2 layers, hidden 128, 2 heads), sequence "
                  "128 (Hugging Face via torch.onnx.export, opset 17)", "encoder",
                  transformer.bert_tiny),
    ]
    return {e.name: e for e in entries}


_REGISTRY: dict[str, ModelInfo] | None = None


def _models() -> dict[str, ModelInfo]:
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _registry()
    return _REGISTRY


def names() -> tuple[str, ...]:
    """Every zoo model, in the order of the zoo table."""
    return tuple(_models())


def info(name: str) -> ModelInfo:
    """The :class:`ModelInfo` of ``name``; ZooError naming the known models otherwise."""
    try:
        return _models()[name]
    except KeyError:
        raise ZooError(f"no zoo model {name!r}; expected one of "
                       f"{', '.join(names())}") from None


def load(name: str, seed: int = 0) -> Any:
    """The ``onnx.ModelProto`` of zoo model ``name`` with weights from ``seed``."""
    return info(name).build(seed)


def sample_inputs(name: str, seed: int = 0, model: Any = None) -> dict[str, np.ndarray]:
    """Seeded inputs for ``name`` (``model``: its ModelProto when already loaded): standard
    normal images and features, token ids over the vocabulary with a full attention mask."""
    model = load(name, seed) if model is None else model
    rng = np.random.default_rng(seed + 1)
    out: dict[str, np.ndarray] = {}
    inits = {i.name for i in model.graph.initializer}
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        shape = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        if vi.type.tensor_type.elem_type == 7:          # int64: token ids and masks
            if vi.name == "attention_mask":
                out[vi.name] = np.ones(shape, np.int64)
            elif vi.name == "token_type_ids":
                out[vi.name] = np.zeros(shape, np.int64)
            else:
                out[vi.name] = rng.integers(1000, 30000, shape).astype(np.int64)
        else:
            out[vi.name] = rng.standard_normal(shape).astype(np.float32)
    return out
