"""Pass 3, lowering: the tile programs of ResNet-18 and the SPEC dense shapes are pinned
(saved executables re-lower and compare digests), and the two tile geometries (image and
matrix) have the structure the module documents."""

import hashlib

import pytest
from vta.compiler.epilogue import Epilogue
from vta.compiler.lower import lower, operands, tile_walk
from vta.compiler.search import schedule_conv2d, schedule_dense
from vta.compiler.tile_program import DmaLoad, DmaStore, Kernel
from vta.compiler.workload import (
    Conv2dWorkload,
    ConvSchedule,
    DenseSchedule,
    DenseWorkload,
    resnet18_workload,
)
from vta.hw.config import VTAConfig
from vta.hw.isa import MemType

REQUANT = Epilogue(bias=True, shift=8, clip=(0, 127))
CONFIG = VTAConfig.load("default")

PINNED = {
    "C1": "dd1c14e97f821b42", "C2": "ac870e62674d54c7", "C3": "0efbb11bf8f4f53e",
    "C4": "7ab1a63a1da41c1e", "C5": "dd6064f5cdf43bc1", "C6": "9ad7ec2df01a8849",
    "C7": "d2f85b57b18d96ec", "C8": "4491f03059a1cbe2", "C9": "703c72c50ac7a34a",
    "C10": "3b4d60df7d83547a", "C11": "1120d36f45c3d380",
    (128, 128, 128): "1bc67b475c2be674", (16, 512, 1008): "f6bb0569c3375af9",
    (1, 512, 1000): "d9649239cd7223b0",
}
"""Digests of the searched programs (default config, ResNet's requantization): a change
refuses every saved executable holding such a layer, so it must be deliberate."""


def _digest(program) -> str:
    return hashlib.sha256(repr((program.threads, program.tiles)).encode()).hexdigest()[:16]


@pytest.mark.parametrize("name", sorted(PINNED, key=str))
def test_programs_are_pinned(name):
    if isinstance(name, str):
        w = resnet18_workload(name)
        s = schedule_conv2d(w, CONFIG, REQUANT)
    else:
        d = DenseWorkload(*name)
        w, s = d.as_conv2d(), schedule_dense(d, CONFIG, REQUANT).as_conv2d()
    assert _digest(lower(w, s, CONFIG, REQUANT)) == PINNED[name]


def test_image_tiles():
    """An image tile: one INP DMA per channel block with the padding, a reset over
    (oc, oh) x ow, the batch walked outside the tiles."""
    w = Conv2dWorkload(2, 32, 6, 6, 32, (3, 3), (1, 1), (1, 1))
    s = ConvSchedule(2, 2, 3, 6, threads=2, order="oc_outer")
    prog = lower(w, s, CONFIG, REQUANT)
    assert [span[0] for span in tile_walk(w, s, CONFIG)] == [0, 0, 1, 1]   # batch outside
    tile = prog.tiles[0]
    reset, bias = tile.prologue
    assert isinstance(reset, Kernel) and reset.reset
    assert reset.loops == ((2, 18, 0, 0), (3, 6, 0, 0)) and len(reset.uops) == 6
    assert isinstance(bias, DmaLoad) and bias.memory_type == MemType.ACC
    inp = [ld for ld in tile.steps[0].loads if ld.memory_type == MemType.INP]
    assert len(inp) == 2                                       # one per channel block
    assert (inp[0].y_pad_0, inp[0].x_pad_0, inp[0].x_pad_1) == (1, 1, 1)
    assert len(tile.epilogue) == len(REQUANT.alu_steps())
    assert len(tile.stores) == 1 and tile.stores[0].x_size == 3 * 6   # full-width rows


def test_matrix_tiles():
    """A matrix (dense) tile: one INP DMA of n rows, the GEMM looping over n and the
    reduction with one uop per output block, stores of n rows of oc blocks."""
    d = DenseWorkload(8 * CONFIG.batch, 4 * CONFIG.block, 6 * CONFIG.block)
    w, s = d.as_conv2d(), DenseSchedule(4, 3, 2, order="spatial_outer").as_conv2d()
    prog = lower(w, s, CONFIG, REQUANT)
    assert [(span[0], span[2]) for span in tile_walk(w, s, CONFIG)] == [
        (0, 0), (0, 3), (4, 0), (4, 3)]                   # oc tiles inside batch tiles
    tile = prog.tiles[0]
    inp, wgt = tile.steps[0].loads
    assert (inp.memory_type, inp.y_size, inp.x_size, inp.x_stride) == (MemType.INP, 4, 2, 4)
    assert (wgt.memory_type, wgt.y_size, wgt.x_size) == (MemType.WGT, 3, 2)
    gemm, = tile.steps[0].kernels
    assert gemm.loops == ((4, 3, 2, 0), (2, 0, 1, 1)) and len(gemm.uops) == 3
    store, = tile.stores
    assert isinstance(store, DmaStore) and (store.y_size, store.x_size, store.x_stride) == (
        4, 3, 6)


def test_operands_name_the_dram_arrays():
    w = Conv2dWorkload(1, 16, 4, 4, 32, (3, 3), (1, 1), (1, 1))
    ops = operands(w, CONFIG, Epilogue(bias=True, residual=True))
    assert {k: (v.memory_type, v.elements) for k, v in ops.items()} == {
        "data": (MemType.INP, 16), "weight": (MemType.WGT, 2 * 9), "out": (MemType.OUT, 32),
        "bias": (MemType.ACC, 2), "residual": (MemType.ACC_8BIT, 32)}
