"""Every gateware component checks its parameters when built, naming the bad value."""

import pytest
from vta.hw import VTAConfig
from vta.hw.errors import ConfigError
from vta.hw.gateware.alu import AluCore
from vta.hw.gateware.axi_lite import ControlRegisters
from vta.hw.gateware.axi_master import AxiMaster
from vta.hw.gateware.compute import ComputeModule
from vta.hw.gateware.fetch import Fetch
from vta.hw.gateware.gemm import GemmCore
from vta.hw.gateware.load import LoadModule
from vta.hw.gateware.load_engine import LoadEngine
from vta.hw.gateware.store import StoreModule
from vta.hw.gateware.tokens import TokenChannel
from vta.hw.gateware.top import VTACore, VTATop

TINY = VTAConfig.preset("tiny")
COMPONENTS = [AluCore, ControlRegisters, AxiMaster, ComputeModule, Fetch, GemmCore,
              LoadModule, StoreModule, VTACore, VTATop]


@pytest.mark.parametrize("component", COMPONENTS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("bad", ["tiny", None, {"LOG_BATCH": 0}])
def test_a_config_must_be_a_vtaconfig(component, bad):
    with pytest.raises(ConfigError, match=f"needs a VTAConfig, not {bad!r}"):
        component(bad)
    assert component(TINY).config is TINY


@pytest.mark.parametrize("stage_insns", [1, 0, -4, 5000, 2.0, True])
def test_fetch_staging_buffer(stage_insns):
    with pytest.raises(ConfigError, match=f"Fetch stage_insns must be an integer in "
                                          f"\\[2, 4096\\], not {stage_insns!r}"):
        Fetch(TINY, stage_insns=stage_insns)
    assert Fetch(TINY, stage_insns=2)._chunk == 1


@pytest.mark.parametrize("name, value", [("n_readers", 0), ("n_readers", 9), ("axi_cache", 16),
                                         ("axi_prot", -1), ("max_outstanding", 65),
                                         ("axi_cache", "3")])
def test_axi_master_parameters(name, value):
    with pytest.raises(ConfigError, match=f"AxiMaster {name} must be an integer in .*, "
                                          f"not {value!r}"):
        AxiMaster(TINY, **{name: value})


def test_load_engine_and_token_channel_parameters():
    with pytest.raises(ConfigError, match="LoadEngine needs a VTAConfig"):
        LoadEngine("tiny", elem_bytes=4, depth=16, sram_width=32)
    with pytest.raises(ConfigError, match="LoadEngine depth must be a power of two, not 12"):
        LoadEngine(TINY, elem_bytes=4, depth=12, sram_width=32)
    with pytest.raises(ConfigError, match="sram_width must be 128 .* \\(sign-extended\\), "
                                          "not 32"):
        LoadEngine(TINY, elem_bytes=4, depth=16, sram_width=32, sign_extend=True)
    with pytest.raises(ConfigError, match="token counter width must be in \\[1, 32\\], not 0"):
        TokenChannel(0)
    with pytest.raises(ConfigError, match="the accelerator needs a VTAConfig"):
        VTATop("tiny", axi_cache=3)
    with pytest.raises(ConfigError, match="AxiMaster axi_cache must be .* not 99"):
        VTATop(TINY, axi_cache=99)
