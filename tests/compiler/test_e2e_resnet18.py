"""ResNet-18 (ONNX, seeded random weights, 1x3x224x224) compiled and run on fsim, bit-exact
against the numpy reference of the quantized graph."""

from __future__ import annotations

import numpy as np
import pytest
import vta.compiler
from vta.compiler.frontend.models import resnet18_onnx


@pytest.mark.slow
def test_resnet18_on_fsim_is_exact():
    model = resnet18_onnx(0)
    x = np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype(np.float32)
    with vta.compiler.compile(model, "default", "fsim", calibration=x) as exe:
        placement = exe.partition.placement()
        # 20 convolutions and the classifier on VTA: against the default config's board
        # CPU (a PYNQ's Cortex-A9) even C1, whose 3 input channels fill 3/16 of each GEMM,
        # and the batch-1 classifier pay.
        convs = {n.name: placement[n.name] for n in exe.graph.nodes if n.op == "qconv2d"}
        assert len(convs) == 20 and set(convs.values()) == {"vta"}
        assert placement["pool1"] == "cpu" and placement["fc"] == "vta"
        # The 8 rescaled skip additions are fused into the conv epilogues.
        adds = [n.name for n in exe.graph.nodes if n.op == "qadd"]
        assert len(adds) == 8 and all(placement[a] == "vta" for a in adds)
        assert sum(len(lay.nodes) == 2 for lay in exe.partition.vta_layers) == 8
        got = exe(x)
        want = exe.reference(x)
        assert got.keys() == want.keys() == {"logits"}
        assert got["logits"].shape == (1, 1000)
        assert np.array_equal(got["logits"], want["logits"])
        vta_rows = [r for r in exe.profile() if r.device == "vta:fsim"]
        assert len(vta_rows) == 21
        assert sum(r.macs for r in vta_rows) == 1_695_547_392 + 118_013_952 + 512_000
