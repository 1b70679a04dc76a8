"""The scheduler's own cost model: bytes moved, uops, instructions and estimated cycles.

The estimate follows the hardware contract (SPEC section 7): GEMM and ALU execute one uop
per cycle plus a fixed start-up per instruction; a DMA costs a start-up, the DRAM latency
once (requests are pipelined) and one cycle per bus beat per row, plus one cycle per
padding element it writes, plus the idle cycles when the latency outlasts the 8 bursts
in flight (:func:`stream_stall`); each distinct micro-kernel is loaded once, cold.
LOAD UOP / LOAD ACC run on the compute module, INP/WGT loads on the load module, stores on
the store module.  With two virtual threads the three modules overlap, so the time is the
busiest module's total plus the pipeline fill and drain; with one thread the stages
serialise.  :class:`CostParams` holds the constants so they can be
fitted to the cycle-accurate simulator.

The co-design knobs change the compute tail of a tile: with ``GEMM_OVERWRITE`` there is no
reset pass (the first step's GEMM is two instructions instead); with ``ALU_OVERLAP`` and two
threads the ALU epilogue of a tile runs while the next tile accumulates, so the ALU work
counts against the GEMM work (the busier of the two units) instead of adding to it.
With ``ALU_TENSOR_II = 2`` an ALU pass with a tensor operand (bias, residual) takes two
cycles per row.

It sits beside the tiling search (:mod:`vta.compiler.search` asks it for every candidate)
and reads the same tile rules as the lowering (:mod:`vta.compiler.workload`), so its byte
and uop counts equal :func:`program_counts` of the lowered program exactly.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field

from vta.hw.config import VTAConfig

from .epilogue import NO_EPILOGUE, Epilogue
from .tile_program import DmaLoad, TileProgram
from .workload import (
    Conv2dWorkload,
    ConvSchedule,
    ceil_div,
    const_rows_per_block,
    conv_input_tile,
    gemm_positions,
    pad_patterns,
    reuse_flags,
    row_subsampled,
    tile_sizes,
    uop_kernels,
)
from .workload import footprint as schedule_footprint

__all__ = ["CostParams", "CostEstimate", "estimate", "dma_cycles", "program_counts"]


@dataclass(frozen=True)
class CostParams:
    """Cycle constants of the estimate (defaults: the kit's gateware contract)."""

    insn_overhead: int = 4       # GEMM/ALU start-up cycles per instruction
    dma_setup: int = 4           # LOAD/STORE decode and first request
    pad_cycles_per_elem: int = 1  # zero elements written by a padded load
    dram_latency: int | None = None  # None: the config's DRAM_LATENCY
    outstanding: int = 8         # bursts in flight per direction (DramTiming's max_reads/
                                 # max_writes, the AXI master's limit, the Zynq HP ports)


_PIPE_DRAIN = 5
"""Cycles an ALU instruction waits for the GEMM unit to drain (``ALU_OVERLAP``)."""


@dataclass
class CostEstimate:
    """What one operator costs on a configuration under one schedule."""

    macs: int = 0                 # multiply-accumulates the GEMM core performs (padded)
    gemm_uops: int = 0
    alu_uops: int = 0
    instructions: int = 0
    dram_read: int = 0            # bytes
    dram_write: int = 0
    load_cycles: int = 0          # busy cycles per module
    compute_cycles: int = 0
    store_cycles: int = 0
    cycles: int = 0               # estimated total
    extra: dict = field(default_factory=dict)

    @property
    def dram_bytes(self) -> int:
        return self.dram_read + self.dram_write

    def utilization(self, config: VTAConfig) -> float:
        """GEMM utilization: MACs / (cycles x peak MACs per cycle)."""
        return self.macs / max(1, self.cycles * config.macs_per_cycle)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class _Consts:
    """Config values the estimates read often (properties are slow in a search loop)."""

    batch: int
    block: int
    inp: int
    wgt: int
    acc: int
    out: int
    bus: int
    latency: int
    macs: int
    alu_ii: int       # cycles per tensor-operand ALU uop
    burst: int        # beats per AXI burst (the profile's limit)
    uop: int          # bytes per micro-op


@functools.lru_cache(maxsize=64)
def _consts(config: VTAConfig) -> _Consts:
    return _Consts(config.batch, config.block, config.inp_elem_bytes, config.wgt_elem_bytes,
                   config.acc_elem_bytes, config.out_elem_bytes, config.bus_bytes,
                   config.DRAM_LATENCY, config.macs_per_cycle, config.ALU_TENSOR_II,
                   config.max_burst_beats, config.uop_elem_bytes)


def stream_stall(k: _Consts, latency: int, outstanding: int, rows: int,
                 beats_per_row: int) -> int:
    """Idle bus cycles of a DMA of ``rows`` rows of ``beats_per_row`` beats while the DRAM
    latency outlasts the bursts in flight.

    Each row is one request, split into ``q`` bursts of at most the profile's burst length
    (``b = beats_per_row / q`` beats on average).  At most ``outstanding`` bursts are in
    flight: the address of burst ``i + outstanding`` goes out the cycle after burst ``i``'s
    last beat, and its data comes ``latency`` cycles later.  So every further group of
    ``outstanding`` bursts waits ``latency - (outstanding - 1) x b`` cycles when that is
    positive (the bursts between them cannot cover the latency).
    """
    q = -(-beats_per_row // k.burst)
    groups = (rows * q - 1) // outstanding
    gap = latency * q - (outstanding - 1) * beats_per_row     # q x the idle cycles per group
    if groups <= 0 or gap <= 0:
        return 0
    return groups * gap // q


def dma_cycles(config: VTAConfig | _Consts, params: CostParams, rows: int, row_bytes: int,
               pad_elems: int = 0) -> int:
    """Cycles of one 2-D DMA of ``rows`` rows of ``row_bytes`` bytes."""
    k = config if isinstance(config, _Consts) else _consts(config)
    latency = k.latency if params.dram_latency is None else params.dram_latency
    beats = -(-row_bytes // k.bus)
    return (params.dma_setup + latency + rows * beats
            + stream_stall(k, latency, params.outstanding, rows, beats)
            + pad_elems * params.pad_cycles_per_elem)


def _reduction(loads: tuple[list[int], ...], gemm: int, steps: int) -> float:
    """Cycles of the reduction steps with two threads, the pipeline fill included.

    ``loads`` holds, per operand, its load cycles and the number of steps that load it
    (an operand reused across steps loads in fewer); those steps are taken to include the
    ones of the operand loaded less often.  Step ``s + 1``'s loads overlap step ``s``'s
    GEMMs (the load module runs at most one step ahead), so each step takes the longer of
    the two, and the first step's loads (every operand) come before any GEMM.
    """
    steps = max(1, steps)
    g = gemm / steps
    (a_cyc, a_n), (b_cyc, b_n) = sorted(((c, min(max(n, 1), steps)) for c, n in loads),
                                        key=lambda x: x[1], reverse=True)
    a, b = a_cyc / a_n, b_cyc / b_n
    body = (b_n * max(a + b, g) + (a_n - b_n) * max(a, g) + (steps - a_n) * g)
    return a + b + body - max(a + b, g) + g


def _combine(est: CostEstimate, threads: int, loads: tuple[list[int], ...], last_tail: int,
             tail_cycles: int, steps: int, alu_cycles: int = 0) -> None:
    """Total cycles from the per-module sums.

    Two threads: a step's load overlaps the previous step's GEMMs (:func:`_reduction`);
    the load module can run at most one step ahead, so a tile's compute tail (reset, ACC
    loads, ALU epilogue) stalls it and is not hidden.  ``alu_cycles`` (``ALU_OVERLAP``) is
    ALU work that runs beside the next tile's GEMMs: the reduction then takes the longer
    of the two.  Stores overlap everything.  One thread: the stages serialise.
    """
    if threads >= 2:
        gemm = est.compute_cycles - tail_cycles - alu_cycles
        body = max(_reduction(loads, gemm, steps), alu_cycles)
        est.cycles = int(max(body + tail_cycles, est.store_cycles) + last_tail)
    else:
        est.cycles = est.load_cycles + est.compute_cycles + est.store_cycles


@functools.lru_cache(maxsize=4096)
def _spatial_classes(total: int, tile: int, in_size: int, stride: int, kernel: int,
                     pad: int) -> dict[int, tuple[int, int]]:
    """Per output-tile size along one axis: [tiles, real input extent summed, ...]."""
    out: dict[int, list[int]] = {}
    for o0 in range(0, total, tile):
        t = min(tile, total - o0)
        i0 = o0 * stride - pad
        ext = (t - 1) * stride + kernel
        real = min(in_size, i0 + ext) - max(0, i0)
        entry = out.setdefault(t, [0, 0])
        entry[0] += 1
        entry[1] += real
    return {k: (v[0], v[1]) for k, v in out.items()}


def estimate(w: Conv2dWorkload, s: ConvSchedule, config: VTAConfig,
             epilogue: Epilogue = NO_EPILOGUE, params: CostParams = CostParams(),
             footprint: dict[str, int] | None = None) -> CostEstimate:
    """Estimate a workload under schedule ``s`` (tile sizes clamped to the workload).

    Bytes and uops are exact (they match :func:`program_counts` of the lowered program);
    cycles are the model's estimate.  ``footprint`` is the schedule's
    :func:`~vta.compiler.workload.footprint` when the caller has it already.
    """
    k = _consts(config)
    nb = ceil_div(w.batch, k.batch)
    # A grouped convolution's output-channel tiles stay inside one super-group, whose
    # reduction covers its own input blocks only.
    n_groups, icb, ocb = w.group_blocks(config)
    kk = w.kernel_area
    oc_sizes = [(t, n * n_groups) for t, n in tile_sizes(ocb, min(s.oc_tile, ocb))]
    ic_sizes = tile_sizes(icb, min(s.ic_tile, icb))
    matrix = w.is_matrix
    # Spatial tile classes: ((batch blocks, rows, columns) of a tile, number of such tiles)
    # in one outer iteration; an image tile walks the batch outside (``outer``).
    if matrix:
        outer = 1
        spatial = [((tn, 1, 1), count) for tn, count in tile_sizes(nb, min(s.n_tile, nb))]
    else:
        outer = nb
        hcls = _spatial_classes(w.out_height, min(s.h_tile, w.out_height), w.out_height, 1,
                                1, 0) if row_subsampled(w) \
            else _spatial_classes(w.out_height, min(s.h_tile, w.out_height), w.height,
                                  w.stride[0], w.kernel_span[0], w.padding[0])
        wcls = _spatial_classes(w.out_width, min(s.w_tile, w.out_width), w.width,
                                w.stride[1], w.kernel_span[1], w.padding[1])
        spatial = [((1, ht, wt), n_h * n_w) for ht, (n_h, _) in hcls.items()
                   for wt, (n_w, _) in wcls.items()]
    n_chunks = sum(n for _, n in ic_sizes)
    n_oc = sum(n for _, n in oc_sizes)
    n_sp = sum(n for _, n in spatial)
    T = s.threads
    # Consecutive steps of one half hold the same chunk when the reduction has 1 or T
    # chunks; then an operand is reloaded only when its tile coordinate changes.
    inp_reuse, wgt_reuse = reuse_flags(n_chunks, n_oc, n_sp, T, s.order)
    per_half = 1 if n_chunks == T and T > 1 else T
    # An image tile's uop working set may exceed the buffer (LOAD UOP per step); a matrix
    # tile's micro-kernels hold one uop per output block.
    reload_uops = not matrix and (
        footprint or schedule_footprint(w, s, config, epilogue))["uop"] > config.uop_depth
    # Micro-kernels that fit stay resident: each is loaded once, cold, by the compute
    # module (LOAD UOP of its uops) the first time a tile uses it.
    cold_uops = 0 if matrix or reload_uops else sum(
        n * dma_cycles(k, params, 1, size * k.uop)
        for size, n in uop_kernels(w, s, config, epilogue))
    n_alu = epilogue.alu_passes
    # Rows' worth of cycles per pass: tensor-operand uops (bias, residual) take
    # ALU_TENSOR_II cycles each.
    n_tensor = sum(isinstance(step.src, str) for step in epilogue.alu_steps())
    alu_rows = n_alu + (k.alu_ii - 1) * n_tensor
    n_const = const_rows_per_block(w, epilogue)
    overwrite = config.GEMM_OVERWRITE
    overlap = config.ALU_OVERLAP and T >= 2
    alu_total = 0
    est = CostEstimate()
    ovh = params.insn_overhead
    latency = k.latency if params.dram_latency is None else params.dram_latency
    max_tail = tail_total = 0
    wgt_load, inp_load = [0, 0], [0, 0]    # (cycles, steps that load it) per operand
    # Weight loads depend only on the (oc, ic) chunk.
    for oc, n_oc_c in oc_sizes:
        for ic, n_ic in ic_sizes:
            if not wgt_reuse:
                loads = outer * n_oc_c * n_ic * n_sp
            elif n_oc == 1:     # the weights never change: reused across the batch too
                loads = n_ic * min(per_half, outer * n_sp)
            else:
                loads = outer * n_oc_c * n_ic * min(per_half, n_sp)
            wgt_cyc = dma_cycles(k, params, oc, ic * kk * k.wgt)
            est.dram_read += loads * oc * ic * kk * k.wgt
            est.load_cycles += loads * wgt_cyc
            est.instructions += loads
            wgt_load[0] += loads * wgt_cyc
            wgt_load[1] += loads
    # Input loads depend only on the (spatial, ic) chunk.
    # An input chunk is reused across the output-channel tiles of its own super-group.
    inp_reps = n_groups * min(per_half, n_oc // n_groups) if inp_reuse else n_oc
    if matrix:   # one 2-D DMA per (batch tile, chunk): a row of ic blocks per batch block
        for (tn, _, _), count in spatial:
            for ic, n_ic in ic_sizes:
                loads = count * n_ic * inp_reps
                cyc = dma_cycles(k, params, tn, ic * k.inp)
                est.dram_read += loads * tn * ic * k.inp
                est.load_cycles += loads * cyc
                est.instructions += loads
                inp_load[0] += loads * cyc
                inp_load[1] += loads
    else:        # one 2-D DMA per channel block, the padding written by the DMA
        for ht, (n_h, real_r) in hcls.items():
            for wt, (n_w, real_c) in wcls.items():
                tih, tiw = conv_input_tile(w, ht, wt)
                for ic, n_ic in ic_sizes:
                    dmas = nb * n_ic * inp_reps * ic
                    area = real_r * real_c                # summed over the n_h x n_w tiles
                    est.dram_read += dmas * area * k.inp
                    beats_row = ceil_div(real_c * k.inp // n_w, k.bus) \
                        if n_w == 1 else ceil_div(tiw * k.inp, k.bus)
                    stall = stream_stall(k, latency, params.outstanding, real_r // n_h,
                                         beats_row)
                    cyc = dmas * (n_h * n_w * (params.dma_setup + latency + stall)
                                  + real_r * n_w * beats_row
                                  + (n_h * n_w * tih * tiw - area) * params.pad_cycles_per_elem)
                    est.load_cycles += cyc
                    est.instructions += dmas * n_h * n_w
                    inp_load[0] += cyc
                    inp_load[1] += dmas // ic * n_h * n_w
    # Compute and store per output tile.
    for oc, n_oc_c in oc_sizes:
        for (tn, ht, wt), count in spatial:
            tiles = outer * n_oc_c * count
            rows = tn * oc * ht * wt
            for ic, n_ic in ic_sizes:
                steps = tiles * n_ic
                # An image tile's GEMM body has at least 3 output rows (scratch rows).
                uops = (rows if matrix else max(rows, 3)) * ic * kk
                if reload_uops:  # working set beyond the uop buffer: LOAD UOP each step
                    body = ic * kk * gemm_positions(oc, ht, wt)
                    est.compute_cycles += steps * dma_cycles(k, params, 1, body * k.uop)
                    est.instructions += steps
                est.gemm_uops += steps * uops
                est.compute_cycles += steps * (uops + ovh)
                est.macs += steps * rows * ic * kk * k.macs
                est.instructions += steps * 2
            # The reset pass, or the first step's second GEMM instruction (overwrite).
            tail = ovh if overwrite else rows + ovh
            alu = alu_rows * rows + n_alu * ovh
            if reload_uops:  # ... and the tile's reset and ALU kernels (w_tile uops each)
                small = (0 if overwrite else 1) + n_alu
                tail += small * dma_cycles(k, params, 1, wt * k.uop)
                est.instructions += tiles * small
            if overlap:      # beside the next tile's GEMMs (after the GEMM unit drains)
                alu_total += tiles * alu
                tail += _PIPE_DRAIN
            else:
                tail += alu
            if epilogue.bias:
                tail += dma_cycles(k, params, 1, oc * k.acc)
                est.dram_read += tiles * oc * k.acc
            if n_const:
                tail += dma_cycles(k, params, 1, oc * n_const * k.acc)
                est.dram_read += tiles * oc * n_const * k.acc
                est.instructions += tiles
            # Output (and residual) transfers: a matrix tile is tn rows of oc blocks; an
            # image tile one DMA of its rows when they span the output width, else one per
            # output-channel block.
            # (Rows of the transfer, elements per row: one request, and its bursts, per row.)
            if matrix:
                n_out_dma, out_cyc = 1, dma_cycles(k, params, tn, oc * k.out)
            elif w.out_scatter is not None:   # one per channel block, or per row and block
                n_out_dma, shape = (oc, (ht, wt)) if w.out_scatter[5] == 1 \
                    else (oc * ht, (wt, 1))
                out_cyc = dma_cycles(k, params, shape[0], shape[1] * k.out)
            elif wt == w.out_width:
                n_out_dma, out_cyc = 1, dma_cycles(k, params, oc, ht * wt * k.out)
            else:
                n_out_dma, out_cyc = oc, dma_cycles(k, params, ht, wt * k.out)
            if epilogue.residual:
                tail += n_out_dma * out_cyc
                est.dram_read += tiles * rows * k.out
            est.alu_uops += tiles * n_alu * rows
            est.compute_cycles += tiles * tail
            tail_total += tiles * tail
            st = n_out_dma * out_cyc
            est.store_cycles += tiles * st
            est.dram_write += tiles * rows * k.out
            est.instructions += tiles * (1 + n_alu + n_out_dma * (1 + epilogue.residual) + 3)
            # After the last GEMM: its tile's tail (in tail_total), then the store drains
            # (and with ALU_OVERLAP its epilogue, which no next tile hides).
            max_tail = max(max_tail, st + (alu if overlap else 0))
    if epilogue.pad_correction and not matrix:
        pad = _pad_correction_cost(w, s, ocb, outer, ovh)
        est.alu_uops += pad[0]
        est.instructions += pad[1]
        if overlap:     # ALU work: beside the GEMMs like the rest of the epilogue
            alu_total += pad[0] + pad[1] * ovh
        else:
            est.compute_cycles += pad[0] + pad[1] * ovh
            tail_total += pad[0] + pad[1] * ovh
    est.compute_cycles += alu_total + cold_uops
    tail_total += cold_uops
    steps = outer * n_oc * n_sp * n_chunks
    _combine(est, T, (wgt_load, inp_load), max_tail, tail_total, steps, alu_total)
    est.extra = {"steps": steps, "tiles": outer * n_oc * n_sp, "chunks": n_chunks}
    return est


@functools.lru_cache(maxsize=1024)
def _touched(classes: tuple, tile: int) -> tuple[int, int]:
    """(tiles, tiles holding a border row or column) along one axis."""
    starts = range(0, len(classes), tile)
    return len(starts), sum(1 for a in starts if any(c != (0, 0) for c in classes[a:a + tile]))


def _pad_correction_cost(w: Conv2dWorkload, s: ConvSchedule, ocb: int, images: int,
                         ovh: int) -> tuple[int, int]:
    """(ALU uops, ALU instructions) of the zero-point border correction: one uop per
    border row and channel block, one instruction per tile that has border rows."""
    patterns = pad_patterns(w)
    uops = patterns.border_count() * ocb * images

    n_h, hit_h = _touched(patterns.rows, min(s.h_tile, w.out_height))
    n_w, hit_w = _touched(patterns.cols, min(s.w_tile, w.out_width))
    tiles = n_h * n_w - (n_h - hit_h) * (n_w - hit_w)
    return uops, tiles * ceil_div(ocb, min(s.oc_tile, ocb)) * images


def program_counts(program: TileProgram, config: VTAConfig) -> dict[str, int]:
    """Bytes, uops and DMA counts of a lowered :class:`~vta.compiler.tile_program.TileProgram`
    (exact; :func:`estimate` must agree with it)."""
    read = write = gemm = alu = loads = 0
    for tile in program.tiles:
        for item in tile.prologue:
            if isinstance(item, DmaLoad):
                read += item.y_size * item.x_size * config.elem_bytes(item.memory_type)
                loads += 1
        for step in tile.steps:
            for ld in step.loads:
                read += ld.y_size * ld.x_size * config.elem_bytes(ld.memory_type)
                loads += 1
            gemm += sum(k.uop_count for k in step.kernels)
        alu += sum(k.uop_count for k in tile.epilogue)
        write += sum(st.y_size * st.x_size * config.out_elem_bytes for st in tile.stores)
    return {"dram_read": read, "dram_write": write, "gemm_uops": gemm, "alu_uops": alu,
            "loads": loads}
