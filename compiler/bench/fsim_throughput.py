"""``vta bench fsim``: throughput of the functional simulator on a large blocked GEMM.

:func:`blocked_gemm_program` builds what a runtime would emit for ``C = A . B^T`` with
``A`` of ``rows x k`` and ``B`` of ``n x k`` int8 values (BATCH rows per INP element):
output tiles of ``tile_rows x tile_n`` elements, reduction tiles of ``tile_k`` blocks,
single-threaded tokens, a GEMM micro-kernel whose uops walk the reduction blocks and whose
two loops walk tile rows and output blocks (as TVM's dense schedule does), then a
``SHR 8`` requantisation and a STORE of each output tile.  :func:`run_benchmark` runs it
a few times, checks the result against numpy once, and reports the median; the
command's last line is ``fsim: <value> GMAC/s``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from vta.hw import isa
from vta.hw.cli import Cli, add_config_argument
from vta.hw.config import VTAConfig
from vta.hw.errors import VTAError
from vta.hw.insn_stream import InsnStream
from vta.hw.isa import AluOp, MemType
from vta.hw.pipeline import COMPUTE, LOAD, STORE
from vta.sim.dram import Dram
from vta.sim.fsim import FunctionalSimulator

__all__ = ["GemmProgram", "blocked_gemm_program", "run_benchmark", "BenchResult"]

SHIFT = 8


@dataclass
class GemmProgram:
    """A blocked GEMM placed in DRAM, with its operands for checking."""

    insn_addr: int
    insn_count: int
    a: np.ndarray          # (rows, k) int8
    b: np.ndarray          # (n, k) int8
    c_addr: int            # (rows, n) int8 result
    macs: int

    def expected(self) -> np.ndarray:
        """``low8((A . B^T) >> SHIFT)`` computed by numpy (float64 is exact here)."""
        prod = self.a.astype(np.float64) @ self.b.astype(np.float64).T
        return (prod.astype(np.int64) >> SHIFT).astype(np.int8)


def blocked_gemm_program(config: VTAConfig, dram: Dram, rng: np.random.Generator,
                         rows: int, k: int, n: int) -> GemmProgram:
    """Build the blocked GEMM program for ``rows x k x n`` in ``dram``.

    Raises :class:`VTAError` when the sizes are not multiples of the block/batch or a
    tile cannot fit the buffers.
    """
    c = config
    bi, bo, batch = c.block_in, c.block_out, c.batch
    if rows % batch or k % bi or n % bo or min(rows, k, n) <= 0:
        raise VTAError(f"GEMM {rows}x{k}x{n} must have rows a multiple of BATCH={batch} and "
                       f"k, n multiples of BLOCK={bi}")
    R, KB, NB = rows // batch, k // bi, n // bo
    # Tiles: the whole weight buffer holds tile_n x tile_k blocks.
    tk = min(KB, 16)
    while KB % tk:
        tk -= 1
    tn = min(NB, max(1, c.wgt_depth // tk))
    while NB % tn:
        tn -= 1
    tr = min(R, max(1, c.acc_depth // tn), max(1, c.inp_depth // tk))
    while R % tr:
        tr -= 1
    if tr * tn > c.acc_depth or tr * tk > c.inp_depth or tn * tk > c.wgt_depth:
        raise VTAError(f"GEMM tiles {tr}x{tk}x{tn} do not fit config {c.name}")
    a = rng.integers(-128, 128, (rows, k), dtype=np.int8)
    b = rng.integers(-128, 128, (n, k), dtype=np.int8)
    # DRAM layouts: INP element (r, kb) = A[r*batch:(r+1)*batch, kb*bi:(kb+1)*bi];
    # WGT element (nb, kb) = B[nb*bo:(nb+1)*bo, kb*bi:(kb+1)*bi]; OUT element (r, nb).
    a_tiles = a.reshape(R, batch, KB, bi).transpose(0, 2, 1, 3)
    b_tiles = b.reshape(NB, bo, KB, bi).transpose(0, 2, 1, 3)
    a_addr = dram.alloc(a.size, c.inp_elem_bytes)
    b_addr = dram.alloc(b.size, c.wgt_elem_bytes)
    c_addr = dram.alloc(rows * n, c.out_elem_bytes)
    dram.write(a_addr, np.ascontiguousarray(a_tiles))
    dram.write(b_addr, np.ascontiguousarray(b_tiles))
    # Uop kernels: GEMM (tk uops), reset (1), SHR (1).
    uops = [isa.Uop(dst_idx=0, src_idx=kb, wgt_idx=kb) for kb in range(tk)]
    uops += [isa.Uop(), isa.Uop()]
    uop_bytes = isa.encode_uops(uops, c)
    uop_addr = dram.alloc(len(uop_bytes), c.uop_elem_bytes)
    dram.write(uop_addr, uop_bytes)

    s = InsnStream()
    s.emit(isa.Load(memory_type=MemType.UOP, dram_base=uop_addr // c.uop_elem_bytes,
                    y_size=1, x_size=len(uops), x_stride=len(uops)))
    first_tile = True
    for r0 in range(0, R, tr):
        for n0 in range(0, NB, tn):
            if not first_tile:
                s.dep_pop(STORE, COMPUTE)
            s.emit(isa.Gemm(reset=1, uop_bgn=tk, uop_end=tk + 1,
                            iter_out=tr * tn, iter_in=1, dst_factor_out=1))
            for k0 in range(0, KB, tk):
                if not (first_tile and k0 == 0):
                    s.dep_pop(COMPUTE, LOAD)
                s.emit(isa.Load(
                    memory_type=MemType.INP, dram_base=a_addr // c.inp_elem_bytes + r0 * KB + k0,
                    y_size=tr, x_size=tk, x_stride=KB))
                s.emit(isa.Load(
                    memory_type=MemType.WGT, dram_base=b_addr // c.wgt_elem_bytes + n0 * KB + k0,
                    y_size=tn, x_size=tk, x_stride=KB))
                s.dep_push(LOAD, COMPUTE)
                s.dep_pop(LOAD, COMPUTE)
                s.emit(isa.Gemm(
                    uop_bgn=0, uop_end=tk, iter_out=tr, iter_in=tn, dst_factor_out=tn,
                    dst_factor_in=1, src_factor_out=tk, wgt_factor_in=tk))
                s.dep_push(COMPUTE, LOAD)
                first_tile = False
            s.emit(isa.Alu(uop_bgn=tk + 1, uop_end=tk + 2, iter_out=tr * tn,
                           iter_in=1, dst_factor_out=1, src_factor_out=1,
                           alu_opcode=AluOp.SHR, use_imm=1, imm=SHIFT))
            s.dep_push(COMPUTE, STORE)
            s.dep_pop(COMPUTE, STORE)
            s.emit(isa.Store(
                memory_type=MemType.OUT, dram_base=c_addr // c.out_elem_bytes + r0 * NB + n0,
                y_size=tr, x_size=tn, x_stride=NB))
            s.dep_push(STORE, COMPUTE)
    s.dep_pop(COMPUTE, LOAD)
    s.commit_pending_pop(LOAD)
    s.dep_pop(STORE, COMPUTE)
    s.commit_pending_pop(COMPUTE)
    s.emit(isa.Finish())
    code = isa.encode(s.insns, c)
    insn_addr = dram.alloc(len(code), c.insn_bytes)
    dram.write(insn_addr, code)
    return GemmProgram(insn_addr, len(s.insns), a, b, c_addr, rows * k * n)


@dataclass
class BenchResult:
    """Median wall time of the runs and the throughput it gives."""

    seconds: list[float]
    macs: int
    insns: int
    cpu_seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def gmacs(self) -> float:
        return self.macs / self.median / 1e9

    @property
    def cpu_median(self) -> float:
        """Median CPU time of this process per run (wall time minus waiting for a core)."""
        return statistics.median(self.cpu_seconds)


def run_benchmark(config: VTAConfig, rows: int = 1024, k: int = 1024, n: int = 1024,
                  repeat: int = 3, seed: int = 0,
                  progress: Callable[[], None] | None = None,
                  blas_threads: int = 1) -> BenchResult:
    """Run the blocked GEMM ``repeat`` times; the first result is checked against numpy.

    ``blas_threads`` is passed to the simulator (two threads gave the same wall time at
    twice the CPU time on a 2-core machine).  Raises :class:`VTAError` if the simulator's
    output differs from numpy's.
    """
    rng = np.random.default_rng(seed)
    need = 2 * (rows * k + n * k + rows * n) + (8 << 20)
    dram = Dram(need)
    prog = blocked_gemm_program(config, dram, rng, rows, k, n)
    sim = FunctionalSimulator(config, dram, blas_threads=blas_threads)
    times, cpu = [], []
    for i in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        stats = sim.run(prog.insn_addr, prog.insn_count)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        if i == 0:
            got = dram.view(prog.c_addr, rows * n).view(np.int8)
            got = got.reshape(rows // config.batch, n // config.block_out, config.batch,
                              config.block_out).transpose(0, 2, 1, 3).reshape(rows, n)
            if not np.array_equal(got, prog.expected()):
                bad = int(np.count_nonzero(got != prog.expected()))
                raise VTAError(f"fsim result differs from numpy in {bad} of {rows * n} "
                               f"outputs")
            if stats.macs(config) != prog.macs:
                raise VTAError(f"fsim counted {stats.macs(config)} MACs, expected {prog.macs}")
        if progress:
            progress()
    return BenchResult(times, prog.macs, prog.insn_count, cpu)


# ---------------------------------------------------------------------------- the command
def register(cli: Cli) -> None:
    cli.command("bench fsim", "functional-simulator throughput on a large blocked GEMM",
                setup=_setup, run=_run)


def _setup(p: argparse.ArgumentParser) -> None:
    add_config_argument(p)
    p.add_argument("--rows", type=int, default=1024, help="rows of A and C (default 1024)")
    p.add_argument("--k", type=int, default=1024, help="reduction length (default 1024)")
    p.add_argument("--n", type=int, default=1024, help="columns of C (default 1024)")
    p.add_argument("--repeat", type=int, default=5, help="timed runs (median reported)")


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    cfg = VTAConfig.load(args.config)
    if args.repeat < 1:
        raise VTAError(f"--repeat must be at least 1, not {args.repeat}")
    with tqdm(total=args.repeat, desc="fsim GEMM", unit="run") as bar:
        res = run_benchmark(cfg, args.rows, args.k, args.n, args.repeat,
                            progress=lambda: bar.update(1))
    print(f"config {cfg.name}: GEMM {args.rows}x{args.k}x{args.n}, {res.insns} instructions, "
          f"{res.macs / 1e9:.3f} GMAC, result checked against numpy")
    print(f"runs: {', '.join(f'{t * 1e3:.1f}' for t in res.seconds)} ms; "
          f"median {res.median * 1e3:.1f} ms (CPU {res.cpu_median * 1e3:.1f} ms: "
          f"{res.macs / res.cpu_median / 1e9:.2f} GMAC/s per busy core)")
    print(f"fsim: {res.gmacs:.2f} GMAC/s")
    return 0
