"""Convolutional networks of the zoo, written node for node as their exporters write them.

torch.onnx.export (eval mode) folds every BatchNormalization that follows a Conv into the
Conv's weight and bias, keeps the ones after a ConvTranspose, writes ReLU6 as Clip with
min/max inputs, nn.Upsample as Resize with constant scales (asymmetric, floor), ZeroPad2d as
Pad, and Linear as Gemm(transB=1) after a Flatten.  tf2onnx starts a Keras model with an
NHWC -> NCHW Transpose, writes ``padding="same"`` as explicit (often asymmetric) pads, Dense
as MatMul + Add, and Flatten as a Transpose back to NHWC then a Reshape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .onnx_builder import OnnxBuilder

__all__ = ["resnet50", "mobilenet_v2", "yolov3_tiny", "dcgan_generator", "resnet8", "ds_cnn",
           "anomaly_autoencoder", "same_pads"]


def same_pads(size: int, k: int, s: int) -> tuple[int, int]:
    """TensorFlow's ``padding="same"``: (before, after), the odd pixel after."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


# ------------------------------------------------------------------------------ torchvision
def resnet50(seed: int = 0, image_size: int = 224) -> Any:
    """torchvision ResNet-50 (v1.5: the stride on the 3x3 conv), BN folded into the convs."""
    b = OnnxBuilder("resnet50", seed, opset=13)
    x = b.input("input", (1, 3, image_size, image_size))
    x = b.relu(b.conv(x, 3, 64, 7, "/conv1/Conv", stride=2, pads=[3] * 4, folded_bn=True),
               "/relu/Relu")
    x = b.node("MaxPool", [x], "/maxpool/MaxPool", kernel_shape=[3, 3], strides=[2, 2],
               pads=[1, 1, 1, 1], ceil_mode=0)
    cin = 64
    for li, (width, blocks, stride) in enumerate(((64, 3, 1), (128, 4, 2), (256, 6, 2),
                                                  (512, 3, 2)), start=1):
        for bi in range(blocks):
            s = stride if bi == 0 else 1
            p = f"/layer{li}/layer{li}.{bi}"
            y = b.relu(b.conv(x, cin, width, 1, f"{p}/conv1/Conv", pads=[0] * 4,
                              folded_bn=True), f"{p}/relu/Relu")
            y = b.relu(b.conv(y, width, width, 3, f"{p}/conv2/Conv", stride=s,
                              folded_bn=True), f"{p}/relu_1/Relu")
            y = b.conv(y, width, width * 4, 1, f"{p}/conv3/Conv", pads=[0] * 4,
                       folded_bn=True, gain=0.5)
            short = x
            if s != 1 or cin != width * 4:
                short = b.conv(x, cin, width * 4, 1, f"{p}/downsample/downsample.0/Conv",
                               stride=s, pads=[0] * 4, folded_bn=True)
            x = b.relu(b.node("Add", [y, short], f"{p}/Add"), f"{p}/relu_2/Relu")
            cin = width * 4
    x = b.node("GlobalAveragePool", [x], "/avgpool/GlobalAveragePool")
    x = b.node("Flatten", [x], "/Flatten", axis=1)
    b.node("Gemm", [x, b.const(b.he((1000, 2048), 2048, 1.0), "fc.weight"),
                    b.const(b.rng.normal(0, 0.01, 1000), "fc.bias")], "/fc/Gemm",
           alpha=1.0, beta=1.0, transB=1)
    b.nodes[-1].output[0] = "output"
    b.output("output", (1, 1000))
    return b.model()


def mobilenet_v2(seed: int = 0, image_size: int = 224) -> Any:
    """torchvision MobileNet-v2: Conv+Clip(0, 6) blocks, depthwise convs with group = C,
    inverted residuals with Add, the classifier after GlobalAveragePool and Flatten."""
    b = OnnxBuilder("mobilenet_v2", seed, opset=13)
    x = b.input("input", (1, 3, image_size, image_size))
    x = b.clip6(b.conv(x, 3, 32, 3, "/features/features.0/features.0.0/Conv", stride=2,
                       folded_bn=True), "/features/features.0/features.0.2/Clip")
    cin, idx = 32, 1
    for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)):
        for i in range(n):
            stride = s if i == 0 else 1
            p = f"/features/features.{idx}/conv"
            hidden = cin * t
            y = x
            k = 0
            if t != 1:
                y = b.clip6(b.conv(y, cin, hidden, 1, f"{p}/conv.0/conv.0.0/Conv",
                                   pads=[0] * 4, folded_bn=True), f"{p}/conv.0/conv.0.2/Clip")
                k = 1
            y = b.clip6(b.conv(y, hidden, hidden, 3, f"{p}/conv.{k}/conv.{k}.0/Conv",
                               stride=stride, group=hidden, folded_bn=True),
                        f"{p}/conv.{k}/conv.{k}.2/Clip")
            y = b.conv(y, hidden, c, 1, f"{p}/conv.{k + 1}/Conv", pads=[0] * 4,
                       folded_bn=True, gain=1.0)
            if stride == 1 and cin == c:
                y = b.node("Add", [x, y], f"/features/features.{idx}/Add")
            x, cin, idx = y, c, idx + 1
    x = b.clip6(b.conv(x, cin, 1280, 1, f"/features/features.{idx}/features.{idx}.0/Conv",
                       pads=[0] * 4, folded_bn=True),
                f"/features/features.{idx}/features.{idx}.2/Clip")
    x = b.node("GlobalAveragePool", [x], "/GlobalAveragePool")
    x = b.node("Flatten", [x], "/Flatten", axis=1)
    b.gemm(x, 1280, 1000, "/classifier/classifier.1/Gemm")
    b.nodes[-1].output[0] = "output"
    b.output("output", (1, 1000))
    return b.model()


# ------------------------------------------------------------------------------ detector
def yolov3_tiny(seed: int = 0, image_size: int = 416, classes: int = 80) -> Any:
    """YOLOv3-tiny as Ultralytics exports it: Conv+LeakyRelu(0.1) (BN folded), 2x2 max
    pools, ZeroPad2d((0, 1, 0, 1)) + MaxPool(2, stride 1), two detection heads, the second
    after a 1x1 conv, nn.Upsample(scale 2, nearest) and a Concat with an earlier route; each
    head reshaped to ``(1, 3, H, W, 5 + classes)`` and passed through a Sigmoid."""
    b = OnnxBuilder("yolov3_tiny", seed, opset=13)
    x = b.input("images", (1, 3, image_size, image_size))
    index = 0

    def conv(y: str, cin: int, cout: int, k: int) -> str:
        nonlocal index
        p = f"/model.{index}"
        index += 1
        c = b.conv(y, cin, cout, k, f"{p}/conv/Conv", pads=[k // 2] * 4, folded_bn=True)
        return b.node("LeakyRelu", [c], f"{p}/act/LeakyRelu", alpha=0.1)

    def pool(y: str, stride: int) -> str:
        nonlocal index
        p = f"/model.{index}"
        index += 1
        if stride == 1:
            pads = b.const(np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64), f"{p}/pads", np.int64)
            y = b.node("Pad", [y, pads], f"{p}/0/Pad", mode="constant")
        return b.node("MaxPool", [y], f"{p}/MaxPool", kernel_shape=[2, 2],
                      strides=[stride, stride], pads=[0, 0, 0, 0])

    c = 3
    route = x
    for cout in (16, 32, 64, 128, 256):
        x = conv(x, c, cout, 3)
        route = x if cout == 256 else route
        x = pool(x, 2)
        c = cout
    x = conv(x, 256, 512, 3)
    x = pool(x, 1)
    x = conv(x, 512, 1024, 3)
    branch = conv(x, 1024, 256, 1)
    head1 = conv(branch, 256, 512, 3)
    y = conv(branch, 256, 128, 1)
    scales = b.const(np.float32([1, 1, 2, 2]), f"/model.{index}/scales")
    y = b.node("Resize", [y, "", scales], f"/model.{index}/Resize", mode="nearest",
               coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    index += 1
    y = b.node("Concat", [y, route], f"/model.{index}/Concat", axis=1)
    index += 1
    head2 = conv(y, 384, 256, 3)
    no = 5 + classes
    for k, (h, cin) in enumerate(((head1, 512), (head2, 256))):
        grid = image_size // (32 if k == 0 else 16)
        p = f"/model.{index}/m.{k}"
        out = b.conv(h, cin, 3 * no, 1, f"{p}/Conv", pads=[0] * 4, gain=1.0)
        shape = b.const(np.array([1, 3, no, grid, grid], np.int64), f"{p}/shape", np.int64)
        out = b.node("Reshape", [out, shape], f"{p}/Reshape")
        out = b.node("Transpose", [out], f"{p}/Transpose", perm=[0, 1, 3, 4, 2])
        b.node("Sigmoid", [out], f"{p}/Sigmoid")
        b.nodes[-1].output[0] = f"output{k}"
        b.output(f"output{k}", (1, 3, grid, grid, no))
    return b.model()


# ------------------------------------------------------------------------------ generator
def dcgan_generator(seed: int = 0, nz: int = 100, ngf: int = 64) -> Any:
    """The DCGAN generator of PyTorch's tutorial (64x64 RGB): ConvTranspose +
    BatchNormalization + ReLU blocks from a 1x1 latent, then ConvTranspose + Tanh."""
    b = OnnxBuilder("dcgan_generator", seed, opset=13)
    x = b.input("z", (1, nz, 1, 1))
    chans = [nz, ngf * 8, ngf * 4, ngf * 2, ngf, 3]
    for i, (cin, cout) in enumerate(zip(chans, chans[1:], strict=False)):
        first, last = i == 0, i == len(chans) - 2
        w = b.he((cin, cout, 4, 4), cin * 4 if not first else cin * 16, 2.0 if not last
                 else 1.0)
        x = b.node("ConvTranspose", [x, b.const(w, f"main.{3 * i}.weight")],
                   f"/main/main.{3 * i}/ConvTranspose", kernel_shape=[4, 4],
                   strides=[1, 1] if first else [2, 2], pads=[0] * 4 if first else [1] * 4,
                   group=1, dilations=[1, 1])
        if last:
            x = b.node("Tanh", [x], f"/main/main.{3 * i + 1}/Tanh")
        else:
            x = b.batch_norm(x, cout, f"/main/main.{3 * i + 1}/BatchNormalization")
            x = b.relu(x, f"/main/main.{3 * i + 2}/Relu")
    b.nodes[-1].output[0] = "image"
    b.output("image", (1, 3, 64, 64))
    return b.model()


# ------------------------------------------------------------------------------ MLPerf Tiny
def resnet8(seed: int = 0) -> Any:
    """MLPerf Tiny image classification: ResNet-8 for CIFAR-10 (Keras, via tf2onnx)."""
    b = OnnxBuilder("resnet8", seed, opset=13)
    x = b.nhwc_to_nchw(b.input("input_1", (1, 32, 32, 3)), "model/conv2d/Conv2D__6")
    size = 32

    def conv(y: str, cin: int, cout: int, k: int, s: int, name: str, gain: float = 2.0
             ) -> str:
        nonlocal size
        ph, pw = same_pads(size, k, s), same_pads(size, k, s)
        return b.conv(y, cin, cout, k, name, stride=s, pads=[ph[0], pw[0], ph[1], pw[1]],
                      folded_bn=True, gain=gain)

    x = b.relu(conv(x, 3, 16, 3, 1, "model/conv2d/Conv2D"), "model/activation/Relu")
    cin = 16
    for stack, (cout, s) in enumerate(((16, 1), (32, 2), (64, 2)), start=1):
        y = b.relu(conv(x, cin, cout, 3, s, f"model/stack{stack}/conv1"),
                   f"model/stack{stack}/relu1")
        size_in = size
        size = -(-size // s)
        y = conv(y, cout, cout, 3, 1, f"model/stack{stack}/conv2", gain=0.5)
        short = x
        if s != 1:
            size, tmp = size_in, size
            short = conv(x, cin, cout, 1, s, f"model/stack{stack}/shortcut")
            size = tmp
        x = b.relu(b.node("Add", [y, short], f"model/stack{stack}/add"),
                   f"model/stack{stack}/relu2")
        cin = cout
    x = b.node("AveragePool", [x], "model/average_pooling2d/AvgPool", kernel_shape=[8, 8],
               strides=[8, 8], pads=[0] * 4)
    x = b.keras_flatten(x, 64, "model/flatten/Reshape")
    x = b.matmul_add(x, 64, 10, "model/dense", gain=1.0)
    b.node("Softmax", [x], "model/dense/Softmax", axis=-1)
    b.nodes[-1].output[0] = "dense"
    b.output("dense", (1, 10))
    return b.model()


def ds_cnn(seed: int = 0) -> Any:
    """MLPerf Tiny keyword spotting: DS-CNN on 49x10 MFCC features (Keras, via tf2onnx):
    a 10x4 stride-2 conv, four depthwise-separable blocks (depthwise 3x3 + pointwise 1x1,
    each with batch norm and ReLU), average pooling, a dense layer and softmax."""
    b = OnnxBuilder("ds_cnn", seed, opset=13)
    x = b.nhwc_to_nchw(b.input("input_1", (1, 49, 10, 1)), "model/conv2d/Conv2D__5")
    ph, pw = same_pads(49, 10, 2), same_pads(10, 4, 2)
    x = b.conv(x, 1, 64, (10, 4), "model/conv2d/Conv2D", stride=2,
               pads=[ph[0], pw[0], ph[1], pw[1]], folded_bn=True)
    x = b.relu(x, "model/activation/Relu")
    for i in range(1, 5):
        x = b.relu(b.conv(x, 64, 64, 3, f"model/depthwise_conv2d_{i}/depthwise", group=64,
                          folded_bn=True), f"model/activation_{2 * i - 1}/Relu")
        x = b.relu(b.conv(x, 64, 64, 1, f"model/conv2d_{i}/Conv2D", pads=[0] * 4,
                          folded_bn=True), f"model/activation_{2 * i}/Relu")
    x = b.node("AveragePool", [x], "model/average_pooling2d/AvgPool", kernel_shape=[25, 5],
               strides=[25, 5], pads=[0] * 4)
    x = b.keras_flatten(x, 64, "model/flatten/Reshape")
    x = b.matmul_add(x, 64, 12, "model/dense", gain=1.0)
    b.node("Softmax", [x], "model/dense/Softmax", axis=-1)
    b.nodes[-1].output[0] = "dense"
    b.output("dense", (1, 12))
    return b.model()


def anomaly_autoencoder(seed: int = 0) -> Any:
    """MLPerf Tiny anomaly detection: the dense autoencoder on 640 log-mel features
    (Keras, via tf2onnx): 128-wide Dense + BatchNormalization + ReLU layers around an
    8-wide bottleneck, and a linear 640-wide output."""
    b = OnnxBuilder("anomaly_autoencoder", seed, opset=13)
    x = b.input("input_1", (1, 640))
    widths = [640, 128, 128, 128, 128, 8, 128, 128, 128, 128]
    for i, (k, m) in enumerate(zip(widths, widths[1:], strict=False)):
        x = b.matmul_add(x, k, m, f"model/dense_{i}")
        x = b.batch_norm(x, m, f"model/batch_normalization_{i}")
        x = b.relu(x, f"model/activation_{i}/Relu")
    b.matmul_add(x, 128, 640, "model/dense_9", gain=1.0)
    b.nodes[-1].output[0] = "output"
    b.output("output", (1, 640))
    return b.model()
