"""``vta bench fuzz``: a small sample of the standing benchmark (RTL against fsim on random
valid and mutated programs), and proof that it notices a device that is wrong."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from vta.driver import open_device
from vta.driver.fuzz import fuzz_device
from vta.hw import VTAConfig
from vta.hw.cli import main
from vta.sim.dram import Dram
from vta.sim.progen import random_program
from vta.sim.progen_mutate import KINDS, mutate


def test_mutations_cover_every_kind_and_stay_in_dram():
    cfg = VTAConfig.preset("tiny")
    seen = Counter()
    for i in range(120):
        dram = Dram(1 << 20)
        rng = np.random.default_rng(i)
        prog = random_program(cfg, rng, dram, n_blocks=2)
        change = mutate(prog, cfg, dram, rng)
        seen[change.kind] += 1
        assert dram.contains(change.insn_addr, change.insn_count * cfg.insn_bytes)
        assert abs(change.insn_count - prog.insn_count) <= 1
    assert set(seen) == set(KINDS)


@pytest.mark.slow
def test_fuzz_sample_on_verilator_and_pysim():
    for kind, config, n in (("verilator", "default", 25), ("pysim", "tiny", 3)):
        options = {"progress": False} if kind == "verilator" else {}
        stats = fuzz_device(lambda kind=kind, config=config, options=options: open_device(
            kind, config, dram_bytes=1 << 20, **options), valid=n, invalid=2 * n, seed=7)
        assert (stats.valid, stats.invalid) == (n, 2 * n)
        assert not stats.mismatches, stats.mismatches[:3]
        assert sum(stats.outcomes.values()) == 2 * n and len(stats.outcomes) >= 2


class _Wrong:
    """An fsim device that flips one output byte of every run (a broken datapath)."""

    def __init__(self, dev):
        self.__dict__["dev"] = dev

    def __getattr__(self, name):
        return getattr(self.dev, name)

    def run(self, addr, count, **kw):
        result = self.dev.run(addr, count, **kw)
        mem = self.dev.memory.mem
        nz = np.flatnonzero(mem[:1 << 16])
        if nz.size:
            mem[nz[-1]] ^= 1
        return result


def test_fuzz_reports_a_device_that_disagrees_and_the_cli_line(capsys):
    stats = fuzz_device(lambda: _Wrong(open_device("fsim", "tiny", dram_bytes=1 << 20)),
                        valid=3, invalid=0, seed=1)
    assert len(stats.mismatches) == 3 and "DRAM differs" in stats.mismatches[0].device
    assert main(["bench", "fuzz", "--config", "tiny", "--programs", "0", "--invalid", "0",
                 "--pysim", "0"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "fuzz: 0 programs, 0 mismatches"


class _Recording(_Wrong):
    """An fsim device that records the ``timeout`` of every run (and runs it unchanged)."""

    def run(self, addr, count, **kw):
        self.__dict__.setdefault("timeouts", []).append(kw.get("timeout"))
        return self.dev.run(addr, count, **kw)


def test_fuzz_runs_are_bounded_by_cycles_and_huge_mutants_are_skipped(monkeypatch):
    """Outcomes must not depend on the machine's load: no wall-clock timeout unless asked
    (the devices' cycle budgets bound each run); mutants over MAX_MUTANT_CYCLES are
    skipped and counted, not run."""
    from vta.driver import fuzz

    devices = []

    def opened():
        devices.append(_Recording(open_device("fsim", "tiny", dram_bytes=1 << 20)))
        return devices[-1]

    stats = fuzz_device(opened, valid=2, invalid=2, seed=3)
    assert not stats.mismatches and stats.skipped == 0
    assert [t for d in devices for t in d.timeouts] == [None] * 6   # 2 + 2 scrubs + 2
    monkeypatch.setattr(fuzz, "MAX_MUTANT_CYCLES", 0)
    stats = fuzz_device(opened, valid=0, invalid=3, seed=3)
    assert (stats.invalid, stats.skipped, sum(stats.outcomes.values())) == (0, 3, 0)


@pytest.mark.slow
def test_a_mutant_with_a_long_legal_loop_matches_however_slow_the_simulator():
    """Mutant 2322 of seed 2026 on tiny reads a LOAD word as a GEMM of 68 x 512 x 512
    uops (17.8 M cycles) and then deadlocks.  Under load a 120 s timeout fired first and
    the fuzz reported a mismatch (timeout vs fsim's DEADLOCK); bounded by cycles, the
    Verilator model finds fsim's deadlock."""
    stats = fuzz_device(lambda: open_device("verilator", "tiny", dram_bytes=1 << 20,
                                            progress=False),
                        valid=0, invalid=1, seed=2026, first=2322)
    assert not stats.mismatches, stats.mismatches
    assert stats.outcomes == Counter({"DEADLOCK": 1})
