"""Shared fixtures of the runtime tests: fsim devices and command queues on them."""

import numpy as np
import pytest
from vta.driver import open_device
from vta.runtime import CommandQueue


@pytest.fixture
def tiny():
    with open_device("fsim", "tiny", dram_bytes=16 << 20) as dev:
        yield dev


@pytest.fixture
def default_dev():
    with open_device("fsim", "default", dram_bytes=64 << 20) as dev:
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
