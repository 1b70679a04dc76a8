"""conv2d lowered to a :class:`~vta.compiler.tile_program.TileProgram`.

Packed layouts (:mod:`vta.runtime.layout`): data ``(N/B, C/BLOCK, H, W, B, BLOCK)`` int8,
weight ``(O/BLOCK, C/BLOCK, KH, KW, BLOCK, BLOCK)`` int8, output ``(N/B, O/BLOCK, OH, OW, B,
BLOCK)`` int8, bias ``(O/BLOCK, B, BLOCK)`` int32, residual like the output.  Channel counts
are padded to BLOCK with zeros by the packing.

SRAM layout of one step (one thread half): the input chunk as ``[ic][row][col]`` with the
zero padding written by the DMA (``y_pad``/``x_pad``), the weight chunk as
``[oc][ic][kh][kw]``, the ACC tile as ``[oc][oh][ow]`` followed by the bias rows ``[oc]`` and
the residual rows ``[oc][oh][ow]``.  The GEMM kernel loops over ``oc`` (outer) and ``oh``
(inner) in hardware; its uops run over ``ic, kh, kw, ow`` with ``ow`` fastest so consecutive
uops write different accumulator rows.
"""

from __future__ import annotations

import functools

from vta.hw.config import VTAConfig
from vta.hw.isa import MemType

from .elementwise import epilogue_kernels
from .reference_ops import NO_EPILOGUE, Epilogue
from .schedule import (
    Conv2dWorkload,
    ConvSchedule,
    ceil_div,
    check_conv2d_schedule,
    conv_input_tile,
    reuse_flags,
    row_subsampled,
)
from .tile_program import DmaLoad, DmaStore, Kernel, Operand, Step, Tile, TileProgram

__all__ = ["lower_conv2d", "conv2d_operands"]


def conv2d_operands(w: Conv2dWorkload, config: VTAConfig,
                    epilogue: Epilogue) -> dict[str, Operand]:
    """The DRAM operands of a conv2d and their sizes in elements."""
    nb, icb, ocb = w.blocks(config)
    ops = {"data": Operand(MemType.INP, nb * icb * w.height * w.width),
           "weight": Operand(MemType.WGT, ocb * icb * w.kernel_area),
           "out": Operand(MemType.OUT, nb * ocb * w.out_height * w.out_width)}
    if epilogue.bias:
        ops["bias"] = Operand(MemType.ACC, ocb)
    if epilogue.residual:
        ops["residual"] = Operand(MemType.ACC_8BIT, nb * ocb * w.out_height * w.out_width)
    return ops


def _tile_order(w: Conv2dWorkload, s: ConvSchedule, nb: int, ocb: int):
    ocs = range(0, ocb, s.oc_tile)
    hs = range(0, w.out_height, s.h_tile)
    ws = range(0, w.out_width, s.w_tile)
    for n in range(nb):
        if s.order == "oc_outer":
            for oc0 in ocs:
                for oh0 in hs:
                    for ow0 in ws:
                        yield n, oc0, oh0, ow0
        else:
            for oh0 in hs:
                for ow0 in ws:
                    for oc0 in ocs:
                        yield n, oc0, oh0, ow0


def lower_conv2d(w: Conv2dWorkload, s: ConvSchedule, config: VTAConfig,
                 epilogue: Epilogue = NO_EPILOGUE) -> TileProgram:
    """Lower a conv2d under schedule ``s`` (checked and clamped here) to a tile program.

    Raises
    ------
    ScheduleError
        if the schedule does not fit the configuration.
    """
    s = check_conv2d_schedule(w, s, config, epilogue)
    nb, icb, ocb = w.blocks(config)
    T = s.threads
    kh_, kw_ = w.kernel
    sh, sw = w.stride
    ph, pw = w.padding
    H, W, OH, OW, KK = w.height, w.width, w.out_height, w.out_width, w.kernel_area
    inp_half, wgt_half = config.inp_depth // T, config.wgt_depth // T
    acc_half = config.acc_depth // T
    subsampled = row_subsampled(w)
    inp_reuse, wgt_reuse = reuse_flags(
        ceil_div(icb, s.ic_tile), ceil_div(ocb, s.oc_tile),
        ceil_div(OH, s.h_tile) * ceil_div(OW, s.w_tile), T, s.order)
    inp_held: list[object] = [None] * T
    wgt_held: list[object] = [None] * T
    tiles: list[Tile] = []
    step = 0
    for index, (n, oc0, oh0, ow0) in enumerate(_tile_order(w, s, nb, ocb)):
        toc, toh, tow = min(s.oc_tile, ocb - oc0), min(s.h_tile, OH - oh0), \
            min(s.w_tile, OW - ow0)
        abase = (index % T) * acc_half
        rows = toc * toh * tow
        bias_base = abase + rows
        res_base = bias_base + (toc if epilogue.bias else 0)
        dummy_base = res_base + (rows if epilogue.residual else 0)
        tih, tiw = conv_input_tile(w, toh, tow)
        # Prologue: zero the tile, fetch bias and residual rows into ACC.
        prologue: list[Kernel | DmaLoad] = [Kernel(
            "gemm", ((toc, toh * tow, 0, 0), (toh, tow, 0, 0)),
            tuple((abase + x, 0, 0) for x in range(tow)), reset=True)]
        if epilogue.bias:
            prologue.append(DmaLoad(MemType.ACC, bias_base, "bias", oc0, 1, toc, toc))
        if epilogue.residual:
            prologue += _out_transfers(True, res_base, n, oc0, oh0, ow0, toc, toh, tow,
                                       ocb, OH, OW)
        # Steps: one per input-channel chunk.
        ih0, iw0 = oh0 * sh - ph, ow0 * sw - pw
        # Row pitch of the input DMA: a subsampled 1-row kernel skips stride-1 rows.
        pitch, span = (sh * W, sh * (tih - 1) + 1) if subsampled else (W, tih)
        ih_lo, ih_hi = max(0, ih0), min(H, ih0 + span)
        iw_lo, iw_hi = max(0, iw0), min(W, iw0 + tiw)
        steps = []
        for ic0 in range(0, icb, s.ic_tile):
            tic = min(s.ic_tile, icb - ic0)
            h = step % T
            ibase, wbase = h * inp_half, h * wgt_half
            loads: list[DmaLoad] = []
            inp_key = (n, ic0, tic, oh0, ow0, toh, tow)
            if not inp_reuse or inp_held[h] != inp_key:
                inp_held[h] = inp_key
                for ic in range(tic):
                    loads.append(DmaLoad(
                        MemType.INP, ibase + ic * tih * tiw, "data",
                        ((n * icb + ic0 + ic) * H + ih_lo) * W + iw_lo,
                        tih if subsampled else ih_hi - ih_lo, iw_hi - iw_lo, pitch,
                        0 if subsampled else ih_lo - ih0,
                        0 if subsampled else ih0 + tih - ih_hi,
                        iw_lo - iw0, iw0 + tiw - iw_hi))
            # The cost model counts weight reuse per image unless there is one oc tile.
            wgt_key = (n if ocb > s.oc_tile else 0, oc0, toc, ic0, tic)
            if not wgt_reuse or wgt_held[h] != wgt_key:
                wgt_held[h] = wgt_key
                loads.append(DmaLoad(MemType.WGT, wbase, "weight", (oc0 * icb + ic0) * KK,
                                     toc, tic * KK, icb * KK))
            gemm = _gemm_kernel(w, abase, ibase, wbase, toc, toh, tow, tic, tih, tiw,
                                dummy_base)
            steps.append(Step(tuple(loads), (gemm,)))
            step += 1
        alu = epilogue_kernels(
            epilogue, ((toc, toh * tow, 1), (toh, tow, 0)),
            tuple((abase + x, bias_base) for x in range(tow)), res_base - abase)
        stores = _out_transfers(False, abase, n, oc0, oh0, ow0, toc, toh, tow, ocb, OH, OW)
        tiles.append(Tile(tuple(prologue), tuple(steps), alu, tuple(stores)))
    return TileProgram(T, tiles, conv2d_operands(w, config, epilogue),
                       description=f"conv2d {s.to_dict()}",
                       stats={"schedule": s.to_dict()})


@functools.lru_cache(maxsize=1024)
def _gemm_kernel(w: Conv2dWorkload, abase: int, ibase: int, wbase: int, toc: int, toh: int,
                 tow: int, tic: int, tih: int, tiw: int, dummy_base: int) -> Kernel:
    """The GEMM micro-kernel of one step.

    The uop body runs over the reduction (ic, kh, kw) outside and output positions inside;
    the positions are the shortest suffix of (oc, oh, ow) with at least 3 rows so that no
    two uops within two of each other write one accumulator row (the runtime's hazard
    rule); the remaining dimensions become the hardware loops.  A tile of fewer than 3
    rows gets dummy positions writing scratch rows (``dummy_base``), never stored.
    """
    kh_, kw_ = w.kernel
    sh, sw = w.stride
    kk = w.kernel_area
    row_step = 1 if row_subsampled(w) else sh
    dims = [(toc, toh * tow, 0, tic * kk), (toh, tow, row_step * tiw, 0), (tow, 1, sw, 0)]
    inner = 1
    while inner < 3 and _prod(d[0] for d in dims[3 - inner:]) < 3:
        inner += 1
    loops = tuple(d for d in dims[:3 - inner] if d[0] > 1) or ((1, 0, 0, 0),)
    positions = [(0, 0, 0)]
    for extent, fd, fs, fw in dims[3 - inner:]:
        positions = [(d + i * fd, s + i * fs, g + i * fw) for d, s, g in positions
                     for i in range(extent)]
    # Scratch rows keep three distinct destinations in a row.
    positions += [(dummy_base - abase + j, 0, 0) for j in range(3 - len(positions))]
    uops = tuple((abase + d, ibase + ic * tih * tiw + y * tiw + z + s,
                  wbase + ic * kk + y * kw_ + z + g)
                 for ic in range(tic) for y in range(kh_) for z in range(kw_)
                 for d, s, g in positions)
    return Kernel("gemm", loops, uops)


def _prod(values) -> int:
    out = 1
    for v in values:
        out *= v
    return out


def _out_transfers(load: bool, sram: int, n: int, oc0: int, oh0: int, ow0: int, toc: int,
                   toh: int, tow: int, ocb: int, OH: int, OW: int) -> list:
    """Stores of an output tile (or ACC_8BIT loads of its residual), merged when rows are
    contiguous in DRAM."""
    def make(sram_base, offset, y, x, stride):
        if load:
            return DmaLoad(MemType.ACC_8BIT, sram_base, "residual", offset, y, x, stride)
        return DmaStore(sram_base, "out", offset, y, x, stride)

    base = ((n * ocb + oc0) * OH + oh0) * OW + ow0
    if tow == OW:
        return [make(sram, base, toc, toh * OW, OH * OW)]
    return [make(sram + oc * toh * tow, base + oc * OH * OW, toh, tow, OW)
            for oc in range(toc)]
