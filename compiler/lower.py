"""Pass 3 of the kernel compiler: a scheduled workload lowered to a
:class:`~vta.compiler.tile_program.TileProgram`.

Packed layouts (:mod:`vta.runtime.layout`): data ``(N/B, C/BLOCK, H, W, B, BLOCK)`` int8,
weight ``(O/BLOCK, C/BLOCK, KH, KW, BLOCK, BLOCK)`` int8, output ``(N/B, O/BLOCK, OH, OW, B,
BLOCK)`` int8, bias ``(O/BLOCK, B, BLOCK)`` int32, residual like the output.  A dense
layer's ``(N/B, K/BLOCK, B, BLOCK)`` data and ``(N/B, M/BLOCK, B, BLOCK)`` output are the
same arrays with ``H = W = 1``.  Channel counts are padded to BLOCK with zeros by the
packing.

The epilogue's constant rows (``consts``: the requantization's per-channel values, then
the input zero point's border corrections, one row per pattern of
:func:`vta.compiler.zero_point.pad_patterns`) are ``(O/BLOCK, R, B, BLOCK)`` int32.

SRAM layout of one step (one thread half): the input chunk as ``[n][ic][row][col]`` with the
zero padding written by the DMA (``y_pad``/``x_pad``), the weight chunk as
``[oc][ic][kh][kw]``, the ACC tile as ``[n][oc][oh][ow]`` followed by the bias rows
``[oc]``, the constant rows ``[oc][r]`` and the residual rows (laid out like the tile).

Micro-kernels by tile geometry (:mod:`vta.compiler.workload`):

* image tile (``oc x oh x ow``): the GEMM kernel loops over ``oc`` (outer) and ``oh``
  (inner) in hardware; its uops run over ``ic, kh, kw, ow`` with ``ow`` fastest so
  consecutive uops write different accumulator rows; the input is one 2-D DMA per channel
  block;
* matrix tile (``n x oc``, dense): the GEMM kernel loops over ``n`` and the reduction in
  hardware, its uops run over ``oc``; the input is one 2-D DMA (a row of ``ic`` blocks per
  batch block).

Reset and ALU kernels loop over the outer axes of the tile's row grid with uops over the
innermost one.

With ``GEMM_OVERWRITE`` a tile has no reset: the first step's GEMM is two instructions,
one with ``overwrite`` over the uops of the first reduction element (every output row
written once) and one accumulating the rest -- for an image tile the first ``positions``
uops of the step's micro-kernel and the others (:attr:`Kernel.uop_range`, the same
micro-kernel), for a matrix tile the first iteration of the reduction loop and the others.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

from vta.hw.config import VTAConfig
from vta.hw.isa import AluOp, MemType

from .epilogue import NO_EPILOGUE, Epilogue, alu_kernel, epilogue_kernels
from .tile_program import DmaLoad, DmaStore, Kernel, Operand, Step, Tile, TileProgram
from .workload import (
    Conv2dWorkload,
    ConvSchedule,
    PadPatterns,
    acc_region_base,
    acc_regions,
    ceil_div,
    check_schedule,
    const_rows_per_block,
    conv_input_tile,
    describe_schedule,
    gemm_positions,
    pad_patterns,
    reuse_flags,
    row_subsampled,
)

__all__ = ["lower", "operands", "TileSpan"]

TileSpan = tuple[int, int, int, int, int, int, int, int]
"""An output tile: ``(n0, tn, oc0, toc, oh0, toh, ow0, tow)`` (first block/row/column and
extent along batch blocks, output-channel blocks, output rows and output columns)."""


def _patterns(w: Conv2dWorkload, epilogue: Epilogue) -> PadPatterns | None:
    return pad_patterns(w) if epilogue.pad_correction and not w.is_matrix else None


def operands(w: Conv2dWorkload, config: VTAConfig, epilogue: Epilogue) -> dict[str, Operand]:
    """The DRAM operands of a workload and their sizes in elements."""
    nb, icb, ocb = w.blocks(config)
    icb_group = w.group_blocks(config)[1]
    fh, fw = w.out_tensor
    ops = {"data": Operand(MemType.INP, nb * icb * w.height * w.width),
           "weight": Operand(MemType.WGT, ocb * icb_group * w.kernel_area),
           "out": Operand(MemType.OUT, nb * ocb * fh * fw)}
    if epilogue.bias:
        ops["bias"] = Operand(MemType.ACC, ocb)
    n_const = const_rows_per_block(w, epilogue)
    if n_const:
        ops["consts"] = Operand(MemType.ACC, ocb * n_const)
    if epilogue.residual:
        ops["residual"] = Operand(MemType.ACC_8BIT, nb * ocb * w.out_height * w.out_width)
    return ops


def tile_walk(w: Conv2dWorkload, s: ConvSchedule, config: VTAConfig) -> Iterator[TileSpan]:
    """The output tiles in execution order: the axes outside the tile grid one at a time
    (the batch of an image), then output-channel tiles outside (``oc_outer``) or inside
    (``spatial_outer``) the spatial tiles (rows x columns of an image, batch blocks of a
    matrix).  Output-channel tiles never straddle a super-group of a grouped convolution
    (:meth:`~vta.compiler.workload.Conv2dWorkload.group_blocks`)."""
    nb = w.blocks(config)[0]
    n_groups, _, ocb_g = w.group_blocks(config)
    ocs = [(g * ocb_g + oc0, min(s.oc_tile, ocb_g - oc0)) for g in range(n_groups)
           for oc0 in range(0, ocb_g, s.oc_tile)]
    if w.is_matrix:
        outer = [(0, 0)]
        spatial = [((n0, min(s.n_tile, nb - n0)), (0, 1), (0, 1))
                   for n0 in range(0, nb, s.n_tile)]
    else:
        OH, OW = w.out_height, w.out_width
        outer = [(n, 1) for n in range(nb)]
        spatial = [((0, 0), (oh0, min(s.h_tile, OH - oh0)), (ow0, min(s.w_tile, OW - ow0)))
                   for oh0 in range(0, OH, s.h_tile) for ow0 in range(0, OW, s.w_tile)]
    for out_n in outer:
        pairs = [(oc, sp) for oc in ocs for sp in spatial] if s.order == "oc_outer" \
            else [(oc, sp) for sp in spatial for oc in ocs]
        for (oc0, toc), (sp_n, (oh0, toh), (ow0, tow)) in pairs:
            n0, tn = sp_n if w.is_matrix else out_n
            yield n0, tn, oc0, toc, oh0, toh, ow0, tow


def lower(w: Conv2dWorkload, s: ConvSchedule, config: VTAConfig,
          epilogue: Epilogue = NO_EPILOGUE) -> TileProgram:
    """Lower ``w`` under schedule ``s`` (checked and clamped here) to a tile program.

    Raises
    ------
    ScheduleError
        if the schedule does not fit the configuration.
    """
    s = check_schedule(w, s, config, epilogue)
    nb, icb, ocb = w.blocks(config)
    n_groups, icb_g, ocb_g = w.group_blocks(config)
    T = s.threads
    KK = w.kernel_area
    inp_half, wgt_half = config.inp_depth // T, config.wgt_depth // T
    n_oc_tiles = n_groups * ceil_div(ocb_g, s.oc_tile)
    n_sp = ceil_div(nb, s.n_tile) if w.is_matrix else \
        ceil_div(w.out_height, s.h_tile) * ceil_div(w.out_width, s.w_tile)
    inp_reuse, wgt_reuse = reuse_flags(ceil_div(icb_g, s.ic_tile), n_oc_tiles, n_sp, T,
                                       s.order)
    inp_held: list[object] = [None] * T
    wgt_held: list[object] = [None] * T
    tiles: list[Tile] = []
    step = 0
    patterns = _patterns(w, epilogue)
    n_const = const_rows_per_block(w, epilogue)
    n_req = len(epilogue.const_rows)
    for index, span in enumerate(tile_walk(w, s, config)):
        n0, tn, oc0, toc, oh0, toh, ow0, tow = span
        abase = acc_region_base(config, T, index)
        rows = tn * toc * toh * tow
        bias_base = abase + rows
        const_base = bias_base + (toc if epilogue.bias else 0)
        res_base = const_base + toc * n_const
        dummy_base = res_base + (rows if epilogue.residual else 0)
        grid = _row_grid(w, span)
        window = None if w.is_matrix else _input_window(w, span, icb)
        tile_in = conv_input_tile(w, toh, tow)
        # Prologue: zero the tile (unless the first step overwrites it), fetch bias and
        # residual rows into ACC.
        inner, inner_stride, inner_bias = grid[-1]
        prologue: list[Kernel | DmaLoad] = [] if config.GEMM_OVERWRITE else [Kernel(
            "gemm", tuple((e, st, 0, 0) for e, st, _ in grid[:-1]),
            tuple((abase + i * inner_stride, 0, 0) for i in range(inner)), reset=True)]
        if epilogue.bias:
            prologue.append(DmaLoad(MemType.ACC, bias_base, "bias", oc0, 1, toc, toc))
        if n_const:
            prologue.append(DmaLoad(MemType.ACC, const_base, "consts", oc0 * n_const, 1,
                                    toc * n_const, toc * n_const))
        if epilogue.residual:
            prologue += _out_transfers(True, w, res_base, span, ocb)
        # Steps: one per input-channel chunk of the tile's super-group.
        steps = []
        first_ic = oc0 // ocb_g * icb_g
        for ic0 in range(0, icb_g, s.ic_tile):
            tic = min(s.ic_tile, icb_g - ic0)
            h = step % T
            ibase, wbase = h * inp_half, h * wgt_half
            loads: list[DmaLoad] = []
            inp_key = (n0, tn, first_ic + ic0, tic, oh0, ow0, toh, tow)
            if not inp_reuse or inp_held[h] != inp_key:
                inp_held[h] = inp_key
                loads += _input_loads(w, ibase, span, window, first_ic + ic0, tic, icb)
            # Weights are reloaded per batch block walked outside the tiles (an image's)
            # unless there is one oc tile; the cost model counts them so.
            wgt_key = (0 if w.is_matrix or n_oc_tiles == 1 else n0, oc0, toc, ic0, tic)
            if not wgt_reuse or wgt_held[h] != wgt_key:
                wgt_held[h] = wgt_key
                loads.append(DmaLoad(MemType.WGT, wbase, "weight", (oc0 * icb_g + ic0) * KK,
                                     toc, tic * KK, icb_g * KK))
            if w.is_matrix:
                gemm = Kernel("gemm", ((tn, toc, tic, 0), (tic, 0, 1, 1)),
                              tuple((abase + m, ibase, wbase + m * tic) for m in range(toc)))
            else:
                gemm = _image_gemm(w, abase, ibase, wbase, toc, toh, tow, tic, *tile_in,
                                   dummy_base)
            first = config.GEMM_OVERWRITE and ic0 == 0
            steps.append(Step(tuple(loads), _overwrite_first(gemm, w.is_matrix, toc, toh,
                                                             tow) if first else (gemm,)))
            step += 1
        pads: tuple[Kernel, ...] = ()
        if patterns is not None:
            pads = _pad_correction(patterns, span, abase, const_base + n_req, n_const)
        alu = epilogue_kernels(
            epilogue, tuple(grid[:-1]),
            tuple((abase + i * inner_stride, bias_base + i * inner_bias)
                  for i in range(inner)), res_base - abase,
            (bias_base, const_base, n_const), pads)
        stores = _out_transfers(False, w, abase, span, ocb)
        tiles.append(Tile(tuple(prologue), tuple(steps), alu, tuple(stores)))
    return TileProgram(T, tiles, operands(w, config, epilogue),
                       description=f"{w.kind} {describe_schedule(w, s)}",
                       acc_regions=acc_regions(config, T))


def _pad_correction(patterns: PadPatterns, span: TileSpan, abase: int, first_row: int,
                    n_const: int) -> tuple[Kernel, ...]:
    """The ALU kernel adding the zero-point correction row of its pattern to each border row
    of an image tile (none for an inner tile): one uop per border position, a hardware loop
    over the tile's channel blocks."""
    _, _, _, toc, oh0, toh, ow0, tow = span
    border = patterns.border_rows(oh0, toh, ow0, tow)
    if not border:
        return ()
    uops = tuple((abase + y * tow + x, first_row + p) for y, x, p in border)
    return (alu_kernel(((toc, toh * tow, n_const),), uops, AluOp.ADD),)


def _row_grid(w: Conv2dWorkload, span: TileSpan) -> list[tuple[int, int, int]]:
    """The tile's ACC row axes, outer first: ``(extent, ACC stride, bias stride)``.

    Image: ``oc x oh x ow`` (one batch block); matrix: ``n x oc``.  The bias row of an
    output row is its output-channel block.
    """
    _, tn, _, toc, _, toh, _, tow = span
    if w.is_matrix:
        return [(tn, toc, 0), (toc, 1, 1)]
    return [(toc, toh * tow, 1), (toh, tow, 0), (tow, 1, 0)]


def _input_window(w: Conv2dWorkload, span: TileSpan, icb: int
                  ) -> tuple[int, int, int, int, int, int, int, int, int, int]:
    """Where a tile's input window lies: (element offset of its first real input of channel
    block 0, elements between channel blocks, SRAM elements per channel block, rows,
    columns and row pitch of the DMA, its y and x pads)."""
    n0, _, _, _, oh0, toh, ow0, tow = span
    H, W = w.height, w.width
    sh, sw = w.stride
    ph, pw = w.padding
    tih, tiw = conv_input_tile(w, toh, tow)
    ih0, iw0 = oh0 * sh - ph, ow0 * sw - pw
    # Row pitch of the input DMA: a subsampled 1-row kernel skips stride-1 rows.
    if row_subsampled(w):
        pitch, span_rows = sh * W, sh * (tih - 1) + 1
    else:
        pitch, span_rows = W, tih
    ih_lo, ih_hi = max(0, ih0), min(H, ih0 + span_rows)
    iw_lo, iw_hi = max(0, iw0), min(W, iw0 + tiw)
    if row_subsampled(w):
        rows, y_pads = tih, (0, 0)
    else:
        rows, y_pads = ih_hi - ih_lo, (ih_lo - ih0, ih0 + tih - ih_hi)
    return ((n0 * icb * H + ih_lo) * W + iw_lo, H * W, tih * tiw, rows, iw_hi - iw_lo, pitch,
            *y_pads, iw_lo - iw0, iw0 + tiw - iw_hi)


def _input_loads(w: Conv2dWorkload, ibase: int, span: TileSpan, window: tuple, ic0: int,
                 tic: int, icb: int) -> list[DmaLoad]:
    """The INP loads of one step: the input window of the tile for ``tic`` channel blocks
    from ``ic0`` (``window``: :func:`_input_window`, for an image tile)."""
    if w.is_matrix:   # tn rows of tic blocks, the batch rows icb blocks apart
        n0, tn = span[:2]
        return [DmaLoad(MemType.INP, ibase, "data", n0 * icb + ic0, tn, tic, icb)]
    base, plane, sram_plane, rows, cols, pitch, y0, y1, x0, x1 = window
    return [DmaLoad(MemType.INP, ibase + ic * sram_plane, "data", base + (ic0 + ic) * plane,
                    rows, cols, pitch, y0, y1, x0, x1) for ic in range(tic)]


@functools.lru_cache(maxsize=1024)
def _image_gemm(w: Conv2dWorkload, abase: int, ibase: int, wbase: int, toc: int, toh: int,
                tow: int, tic: int, tih: int, tiw: int, dummy_base: int) -> Kernel:
    """The GEMM micro-kernel of one step of an image tile.

    The uop body runs over the reduction (ic, kh, kw) outside and output positions inside;
    the positions are the shortest suffix of (oc, oh, ow) with at least 3 rows so that no
    two uops within two of each other write one accumulator row (the runtime's hazard
    rule); the remaining dimensions become the hardware loops.  A tile of fewer than 3
    rows gets dummy positions writing scratch rows (``dummy_base``), never stored.
    """
    kh_, kw_ = w.kernel
    dh, dw = w.dilation
    sw = w.stride[1]
    kk = w.kernel_area
    row_step = 1 if row_subsampled(w) else w.stride[0]
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
    uops = tuple((abase + d, ibase + ic * tih * tiw + y * dh * tiw + z * dw + s,
                  wbase + ic * kk + y * kw_ + z + g)
                 for ic in range(tic) for y in range(kh_) for z in range(kw_)
                 for d, s, g in positions)
    return Kernel("gemm", loops, uops)


def _overwrite_first(gemm: Kernel, matrix: bool, toc: int, toh: int, tow: int
                     ) -> tuple[Kernel, ...]:
    """The first step's GEMM as an ``overwrite`` GEMM over the first reduction element and
    an accumulating GEMM over the rest (``GEMM_OVERWRITE``; see the module docstring)."""
    if matrix:      # the reduction is the inner hardware loop: its first iteration
        outer, (tic, _, fs, fw) = gemm.loops
        head = Kernel("gemm", (outer,), gemm.uops, overwrite=True)
        if tic == 1:
            return (head,)
        rest = Kernel("gemm", (outer, (tic - 1, 0, fs, fw)),
                      tuple((d, s + fs, g + fw) for d, s, g in gemm.uops))
        return head, rest
    # The uops run over the reduction outside and the output positions inside: the first
    # ``positions`` uops write every row of the loop body once.
    positions = gemm_positions(toc, toh, tow)
    head = Kernel(gemm.kind, gemm.loops, gemm.uops, overwrite=True,
                  uop_range=(0, positions))
    if positions == len(gemm.uops):
        return (head,)
    return head, Kernel(gemm.kind, gemm.loops, gemm.uops,
                        uop_range=(positions, len(gemm.uops)))


def _prod(values) -> int:
    out = 1
    for v in values:
        out *= v
    return out


def _out_transfers(load: bool, w: Conv2dWorkload, sram: int, span: TileSpan,
                   ocb: int) -> list[DmaLoad | DmaStore]:
    """Stores of an output tile (or ACC_8BIT loads of its residual), merged when rows are
    contiguous in DRAM: a matrix tile is ``tn`` rows of ``toc`` blocks; an image tile one
    transfer when its rows span the output width, else one per output-channel block."""
    def make(sram_base: int, offset: int, y: int, x: int, stride: int) -> DmaLoad | DmaStore:
        if load:
            return DmaLoad(MemType.ACC_8BIT, sram_base, "residual", offset, y, x, stride)
        return DmaStore(sram_base, "out", offset, y, x, stride)

    n0, tn, oc0, toc, oh0, toh, ow0, tow = span
    if w.out_scatter is not None:    # rows sy apart, columns sx apart in a larger tensor
        FH, FW, y0, x0, sy, sx = w.out_scatter
        base = ((n0 * ocb + oc0) * FH + y0 + oh0 * sy) * FW + x0 + ow0 * sx
        if sx == 1:
            return [make(sram + oc * toh * tow, base + oc * FH * FW, toh, tow, sy * FW)
                    for oc in range(toc)]
        return [make(sram + (oc * toh + r) * tow, base + oc * FH * FW + r * sy * FW, tow, 1,
                     sx) for oc in range(toc) for r in range(toh)]
    OH, OW = w.out_height, w.out_width
    base = ((n0 * ocb + oc0) * OH + oh0) * OW + ow0
    if w.is_matrix:
        return [make(sram, base, tn, toc, ocb)]
    if tow == OW:
        return [make(sram, base, toc, toh * OW, OH * OW)]
    return [make(sram + oc * toh * tow, base + oc * OH * OW, toh, tow, OW)
            for oc in range(toc)]
