"""The accelerator's top level: ``vta_top`` with Xilinx interface port names.

:class:`VTACore` wires the control registers, the AXI master, fetch, the load, compute and
store modules and the four token channels, in the ``sync`` clock domain; its ports are the
flat Xilinx names (``s_axi_control_AWVALID``, ``m_axi_gmem_ARADDR``, ``interrupt``) so
Vivado infers the AXI interfaces.  :class:`VTATop` adds ``ap_clk`` and the active-low
``ap_rst_n`` and is what :mod:`.verilog` converts; simulations (``vta.sim.pysim``) run
:class:`VTACore` directly with the simulator's clock.

Counters and STATUS (see :mod:`vta.hw.regmap`): busy cycles per module, token-stall cycles,
DMA bytes, GEMM/ALU uops and completed instructions; STATUS shows which module is busy and
which token each waits on, so a wedged program can be diagnosed from the registers.

The :class:`~.run_guard.RunGuard` ends every run: normally at FINISH, or after the first
error (an instruction fetch rejects, a DMA error response, a GEMM/ALU index beyond its
buffer, tokens left at FINISH, a deadlock, a host abort), which it records in the error
registers before stopping the modules, emptying fetch and the token channels.
"""

from __future__ import annotations

from amaranth.hdl import Cat, ClockDomain, Module, ResetInserter, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..config import VTAConfig
from ..pipeline import CHANNELS, COMPUTE, LOAD, STAGES, STORE, Stage
from ..ports import (
    CLOCK,
    CONTROL_PREFIX,
    MEMORY_PREFIX,
    RESET,
    control_signals,
    memory_signals,
    top_ports,
)
from ..regmap import STATUS_BITS
from .axi_lite import ControlRegisters
from .axi_master import AxiMaster
from .component import ConfiguredComponent, require_config
from .compute import ComputeModule
from .fetch import Fetch
from .interfaces import bus_signature
from .load import LoadModule
from .run_guard import RunGuard
from .store import StoreModule
from .tokens import TokenChannel

__all__ = ["VTACore", "VTATop", "connect_stages"]


def _port_members(config: VTAConfig, *, clocked: bool) -> dict[str, wiring.Member]:
    """The ports of :func:`vta.hw.ports.top_ports` as members; without the clock and
    reset unless ``clocked``."""
    return {p.name: (In if p.direction == "in" else Out)(p.width) for p in top_ports(config)
            if clocked or p.name not in (CLOCK, RESET)}


def _forward(m: Module, outer: wiring.Component, inner_port, prefix: str,
             signature: wiring.Signature, inner_is_master: bool) -> None:
    """Connect flat ``prefix + NAME`` ports of ``outer`` to the interface ``inner_port``."""
    for name, member in signature.members.items():
        flat = getattr(outer, prefix + name)
        inner = getattr(inner_port, name)
        drives_out = (member.flow == Out) == inner_is_master
        m.d.comb += (flat.eq(inner) if drives_out else inner.eq(flat))


def connect_stages(m: Module, stages: dict[Stage, wiring.Component],
                   tokens: dict[str, TokenChannel]) -> None:
    """Wire the load, compute and store modules together.

    Each channel of :data:`vta.hw.pipeline.CHANNELS` runs from its producer's port to
    ``tokens[name]`` to its consumer's port (both ports named after the channel); compute
    reads INP and WGT through the load module's read ports, store reads OUT through
    compute's.
    """
    for ch in CHANNELS:
        wiring.connect(m, getattr(stages[ch.producer], ch.name), tokens[ch.name].producer)
        wiring.connect(m, getattr(stages[ch.consumer], ch.name), tokens[ch.name].consumer)
    load, compute, store = (stages[s] for s in STAGES)
    wiring.connect(m, compute.inp_rd, load.inp_rd)
    wiring.connect(m, compute.wgt_rd, load.wgt_rd)
    wiring.connect(m, store.out_rd, compute.out_rd)


class VTACore(ConfiguredComponent):
    """Everything of ``vta_top`` except the clock and reset pins (``sync`` domain).

    Parameters
    ----------
    config:
        The configuration every size derives from.
    axi_cache, axi_prot:
        Constant ``AxCACHE``/``AxPROT`` of the memory port.

    Members
    -------
    s_axi_control_*:
        AXI4-Lite control slave (see :func:`vta.hw.ports.control_signals`).
    m_axi_gmem_*:
        AXI master to DRAM (see :func:`vta.hw.ports.memory_signals`).
    interrupt: ``Out(1)``

    Raises
    ------
    ConfigError
        A parameter is invalid (checked by the parts, before elaboration).
    """

    def __init__(self, config: VTAConfig, *, axi_cache: int = 0b0011,
                 axi_prot: int = 0b000) -> None:
        config = require_config(config, "the accelerator")
        # Build the parts now, so bad parameters fail before elaboration and tests can
        # reach internal signals (``core.ctrl.running``, ``core.compute.busy``, ...).
        self.ctrl = ControlRegisters(config)
        self.master = AxiMaster(config, n_readers=3, axi_cache=axi_cache, axi_prot=axi_prot)
        self.fetch = Fetch(config)
        self.load = LoadModule(config)
        self.compute = ComputeModule(config)
        self.store = StoreModule(config)
        self.tokens = {ch.name: TokenChannel() for ch in CHANNELS}
        self.guard = RunGuard(config)
        self.status = Signal(32)
        self.quiet = Signal()
        super().__init__(config)

    def _ports(self, config: VTAConfig) -> dict:
        return _port_members(config, clocked=False)

    def elaborate(self, platform) -> Module:
        m = Module()
        cfg = self._config
        ctrl, master, fetch = self.ctrl, self.master, self.fetch
        load, compute, store = self.load, self.compute, self.store
        tok = self.tokens
        guard = self.guard
        m.submodules.ctrl = ctrl
        m.submodules.axi_master = master
        # A stopped run leaves nothing behind in fetch (its queues included).
        m.submodules.fetch = ResetInserter({"sync": guard.flush})(fetch)
        m.submodules.load = load
        m.submodules.compute = compute
        m.submodules.store = store
        m.submodules.guard = guard
        for name, channel in tok.items():
            m.submodules[f"tokens_{name}"] = channel
            m.d.comb += channel.clear.eq(ctrl.start | guard.flush)

        _forward(m, self, ctrl.axi, CONTROL_PREFIX, bus_signature(control_signals()),
                 inner_is_master=False)
        _forward(m, self, master.axi, MEMORY_PREFIX, bus_signature(memory_signals(cfg)),
                 inner_is_master=True)
        m.d.comb += self.interrupt.eq(ctrl.interrupt)

        # Fetch and the command queues.
        m.d.comb += [fetch.start.eq(ctrl.start), fetch.insn_count.eq(ctrl.insn_count),
                     fetch.insn_addr.eq(ctrl.insn_addr)]
        wiring.connect(m, fetch.load, load.insn)
        wiring.connect(m, fetch.compute, compute.insn)
        wiring.connect(m, fetch.store, store.insn)
        # DMA clients: read port 0 fetch, 1 load, 2 compute; the write port is store's.
        wiring.connect(m, fetch.dma, master.rd[0])
        wiring.connect(m, load.dma, master.rd[1])
        wiring.connect(m, compute.dma, master.rd[2])
        wiring.connect(m, store.dma, master.wr)
        # Token channels and SRAM read ports between the modules.
        connect_stages(m, {LOAD: load, COMPUTE: compute, STORE: store}, tok)

        # Counters, STATUS and the end of a run.
        incr = ctrl.incr
        m.d.comb += [
            incr.FETCH_BUSY.eq(fetch.busy),
            incr.LOAD_BUSY.eq(load.busy),
            incr.COMPUTE_BUSY.eq(compute.busy),
            incr.STORE_BUSY.eq(store.busy),
            incr.LOAD_STALL.eq(load.wait_next),
            incr.COMPUTE_STALL.eq(compute.wait_prev | compute.wait_next),
            incr.STORE_STALL.eq(store.wait_prev),
            incr.DMA_RD_BYTES.eq(master.rd_bytes),
            incr.DMA_WR_BYTES.eq(master.wr_bytes),
            incr.GEMM_UOPS.eq(compute.gemm_uop),
            incr.ALU_UOPS.eq(compute.alu_uop),
            incr.INSN_DONE.eq(load.insn_done + compute.insn_done + store.insn_done),
        ]
        status_bits = [fetch.busy, load.busy, compute.busy, store.busy, load.wait_next,
                       compute.wait_prev, compute.wait_next, store.wait_prev,
                       fetch.queue_full_wait, guard.dma_error_seen,
                       guard.finish_seen & ctrl.running, guard.stopping]
        assert len(status_bits) == len(STATUS_BITS)
        for bit, value in enumerate(status_bits):
            m.d.comb += self.status[bit].eq(value)
        m.d.comb += [
            ctrl.status.eq(self.status),
            self.quiet.eq(~fetch.busy & fetch.queues_empty & ~load.busy & ~compute.busy
                          & ~store.busy & master.rd_idle & master.wr_idle),
        ]
        self._guard(m)
        wiring.connect(m, self.compute.index_error, self.guard.index_error)
        return m

    def _guard(self, m: Module) -> None:
        """Wire the run guard: what it watches, and the run end, abort and flush."""
        ctrl, master, fetch, guard = self.ctrl, self.master, self.fetch, self.guard
        stages = (self.load, self.compute, self.store)
        queues = (fetch.load, fetch.compute, fetch.store)
        m.d.comb += [
            guard.start.eq(ctrl.start), guard.running.eq(ctrl.running),
            guard.abort_req.eq(ctrl.abort_req), guard.finish.eq(self.compute.finish),
            guard.quiet.eq(self.quiet), guard.fetch_busy.eq(fetch.busy),
            guard.fetch_full_wait.eq(fetch.queue_full_wait),
            guard.rd_idle.eq(master.rd_idle), guard.wr_idle.eq(master.wr_idle),
            guard.busy.eq(Cat(*(s.busy for s in stages))),
            guard.wait.eq(Cat(self.load.wait_next,
                              self.compute.wait_prev | self.compute.wait_next,
                              self.store.wait_prev)),
            guard.take.eq(Cat(*(q.valid & q.ready for q in queues))),
            guard.fetch_error.eq(fetch.error), guard.fetch_kind.eq(fetch.error_kind),
            guard.fetch_index.eq(fetch.next_index),
            guard.dma_error.eq(Cat(master.rd_error, master.wr_error)),
            *(guard.tokens[ch.index].eq(self.tokens[ch.name].count) for ch in CHANNELS),
            fetch.abort.eq(guard.abort), self.compute.abort.eq(guard.abort),
            ctrl.end.eq(guard.end), ctrl.report.eq(guard.report),
        ]


class VTATop(wiring.Component):
    """``vta_top``: :class:`VTACore` plus ``ap_clk`` and the active-low ``ap_rst_n``.

    Parameters and members as :class:`VTACore`, plus ``ap_clk: In(1)``,
    ``ap_rst_n: In(1)``.
    """

    def __init__(self, config: VTAConfig, *, axi_cache: int = 0b0011,
                 axi_prot: int = 0b000) -> None:
        self.core = VTACore(config, axi_cache=axi_cache, axi_prot=axi_prot)
        super().__init__(_port_members(config, clocked=True))

    @property
    def config(self) -> VTAConfig:
        return self.core.config

    def elaborate(self, platform) -> Module:
        m = Module()
        m.domains.sync = cd = ClockDomain("sync", local=True)
        m.d.comb += [cd.clk.eq(getattr(self, CLOCK)), cd.rst.eq(~getattr(self, RESET))]
        m.submodules.core = core = self.core
        for name, member in core.signature.members.items():
            outer, inner = getattr(self, name), getattr(core, name)
            m.d.comb += (outer.eq(inner) if member.flow == Out else inner.eq(outer))
        return m
