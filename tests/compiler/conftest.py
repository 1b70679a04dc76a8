"""Shared fixtures of the compiler tests: simulator devices, the requantizing epilogue, and
builders of small quantized graphs (partition, executable and CLI tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest
from vta.compiler.epilogue import Epilogue
from vta.compiler.frontend import Graph, GraphBuilder
from vta.driver import Device, open_device
from vta.hw.config import VTAConfig


@pytest.fixture(scope="session")
def fsim() -> Device:
    """A functional simulator of the default config."""
    return open_device("fsim", "default")


@pytest.fixture(scope="session")
def fsim_tiny() -> Device:
    """A functional simulator of the tiny config (BLOCK 4, small buffers)."""
    return open_device("fsim", "tiny")


@pytest.fixture(scope="session")
def verilator() -> Iterator[Callable[[str], Device]]:
    """``verilator(config_name)``: a Verilator device per config, closed at the end."""
    devices: dict[str, Device] = {}

    def get(name: str) -> Device:
        if name not in devices:
            devices[name] = open_device("verilator", name, dram_bytes=16 << 20,
                                        progress=False)
        return devices[name]
    yield get
    for dev in devices.values():
        dev.close()


@pytest.fixture(scope="session")
def requant() -> Epilogue:
    """ResNet-18's requantization: + bias, >> 8, clip to [0, 127]."""
    return Epilogue(bias=True, shift=8, clip=(0, 127))


@pytest.fixture
def default_config() -> VTAConfig:
    return VTAConfig.load("default")


@pytest.fixture
def qconv() -> Callable[..., str]:
    """``qconv(builder, x, name, out_channels, k=3, shift=6, lo=-128, hi=127, **attrs)``: a
    ``qconv2d`` node with seeded int8 weights and int32 bias; returns its output."""
    rng = np.random.default_rng(7)

    def make(b: GraphBuilder, x: str, name: str, o: int, k: int = 3, shift: object = 6,
             lo: int = -128, hi: int = 127, **attrs: object) -> str:
        i = b.type_of(x).shape[1] // int(attrs.get("groups", 1))   # type: ignore[call-overload]
        w = b.param(f"{name}.w", rng.integers(-20, 21, (o, i, k, k)).astype(np.int8))
        bb = b.param(f"{name}.b", rng.integers(-500, 500, o).astype(np.int32))
        return b.node("qconv2d", [x, w, bb], name, strides=attrs.pop("strides", 1),
                      pads=attrs.pop("pads", k // 2), shift=shift, lo=lo, hi=hi,
                      out_scale=2.0 ** -4, **attrs)
    return make


@pytest.fixture
def qadd() -> Callable[..., str]:
    """``qadd(builder, a, c, name, **attrs)``: a ``qadd`` node; by default one that needs no
    rescaling (fusable into a conv)."""
    def make(b: GraphBuilder, a: str, c: str, name: str, **attrs: int) -> str:
        full = {"lshift_a": 0, "lshift_b": 0, "offset": 0, "shift": 0, "lo": 0, "hi": 127}
        full.update(attrs)
        return b.node("qadd", [a, c], name, out_scale=2.0 ** -4, **full)
    return make


@pytest.fixture
def residual_graph(qconv: Callable[..., str], qadd: Callable[..., str]
                   ) -> Callable[..., Graph]:
    """``residual_graph(plain_add=True, channels=32)``: int8 input -> conv (3 channels) ->
    conv -> conv + skip (qadd) -> max pool -> output."""
    def make(plain_add: bool = True, channels: int = 32) -> Graph:
        b = GraphBuilder("resid")
        x = b.input("x", (1, 3, 16, 16), "int8")
        y = qconv(b, x, "c1", channels, lo=0)
        z = qconv(b, qconv(b, y, "c2", channels, lo=0), "c3", channels)
        add = {} if plain_add else {"lshift_b": 1, "offset": 1, "shift": 1}
        y = qadd(b, z, y, "add", **add)
        b.output(b.max_pool(y, 2, name="pool"))
        return b.build()
    return make
