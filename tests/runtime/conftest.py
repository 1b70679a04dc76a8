"""Shared fixtures of the runtime tests: devices and command queues on them.

Every runtime test runs on the functional simulator and on the cycle-accurate Verilator
model of the generated gateware (marked slow: its first build takes a minute or two).
"""

import numpy as np
import pytest
from vta.driver import open_device
from vta.runtime import CommandQueue


@pytest.fixture(params=["fsim", pytest.param("verilator", marks=pytest.mark.slow)])
def kind(request):
    return request.param


@pytest.fixture
def tiny(kind):
    with open_device(kind, "tiny", dram_bytes=16 << 20) as dev:
        yield dev


@pytest.fixture
def default_dev(kind):
    with open_device(kind, "default", dram_bytes=64 << 20) as dev:
        yield dev


@pytest.fixture
def q(tiny):
    with CommandQueue(tiny) as queue:
        yield queue


@pytest.fixture
def qd(default_dev):
    with CommandQueue(default_dev) as queue:
        yield queue


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
