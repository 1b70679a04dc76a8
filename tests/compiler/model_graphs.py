"""Small quantized graphs for the model-compiler tests (partition, executable, CLI)."""

from __future__ import annotations

import numpy as np
from vta.compiler.frontend import GraphBuilder
from vta.hw.config import VTAConfig

CFG = VTAConfig.load("default")
RNG = np.random.default_rng(7)


def weights(o: int, i: int, k: int) -> np.ndarray:
    return RNG.integers(-20, 21, (o, i, k, k)).astype(np.int8)


def bias(o: int) -> np.ndarray:
    return RNG.integers(-500, 500, o).astype(np.int32)


def qconv(b: GraphBuilder, x: str, name: str, o: int, k: int = 3, shift: object = 6,
          lo: int = -128, hi: int = 127, **attrs: object) -> str:
    """A ``qconv2d`` node with seeded int8 weights and int32 bias."""
    i = b.type_of(x).shape[1]
    w, bb = b.param(f"{name}.w", weights(o, i, k)), b.param(f"{name}.b", bias(o))
    return b.node("qconv2d", [x, w, bb], name, strides=attrs.pop("strides", 1),
                  pads=attrs.pop("pads", k // 2), shift=shift, lo=lo, hi=hi,
                  out_scale=2.0 ** -4, **attrs)


def qadd(b: GraphBuilder, a: str, c: str, name: str, **attrs: int) -> str:
    """A ``qadd`` node; by default one that needs no rescaling (fusable into a conv)."""
    full = {"lshift_a": 0, "lshift_b": 0, "offset": 0, "shift": 0, "lo": 0, "hi": 127}
    full.update(attrs)
    return b.node("qadd", [a, c], name, out_scale=2.0 ** -4, **full)


def residual_graph(plain_add: bool = True, channels: int = 32):
    """int8 input -> conv(3 ch) -> conv -> conv + skip (qadd) -> max pool -> output."""
    b = GraphBuilder("resid")
    x = b.input("x", (1, 3, 16, 16), "int8")
    y = qconv(b, x, "c1", channels, lo=0)
    z = qconv(b, qconv(b, y, "c2", channels, lo=0), "c3", channels)
    add = {} if plain_add else {"lshift_b": 1, "offset": 1, "shift": 1}
    y = qadd(b, z, y, "add", **add)
    b.output(b.max_pool(y, 2, name="pool"))
    return b.build()
