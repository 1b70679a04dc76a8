"""Encode/decode round trips of random instructions and uops for every configuration."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vta.hw import PRESETS, ConfigError, IsaError, VTAConfig, isa

CONFIGS = [VTAConfig.preset(name) for name in sorted(PRESETS)] + [
    VTAConfig(LOG_ACC_BUFF_SIZE=19, LOG_INP_BUFF_SIZE=16, WIDE_ISA=True),
    VTAConfig(LOG_BATCH=1, LOG_BLOCK=3, LOG_UOP_BUFF_SIZE=12, LOG_INP_BUFF_SIZE=12,
              LOG_WGT_BUFF_SIZE=13, LOG_ACC_BUFF_SIZE=14),
]


@st.composite
def instructions(draw, config: VTAConfig):
    opcode = draw(st.sampled_from(sorted(isa.CLASSES)))
    fields = isa.layout_for(config).formats[opcode]
    values = {f.name: draw(st.integers(f.lo, f.hi)) for f in fields if f.name != "opcode"}
    return isa.CLASSES[opcode](**values)


@st.composite
def uops(draw, config: VTAConfig):
    fields = isa.layout_for(config).uop
    return isa.Uop(**{f.name: draw(st.integers(f.lo, f.hi)) for f in fields})


# kind: (strategy, encode, decode, bytes per item, longest list, examples)
ROUND_TRIPS = {
    "instructions": (instructions, isa.encode, isa.decode, "insn_bytes", 8, 60),
    "uops": (uops, isa.encode_uops, isa.decode_uops, "uop_elem_bytes", 16, 40),
}


@pytest.mark.parametrize("kind", list(ROUND_TRIPS))
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.TARGET}-{c.name}-{c.insn_width}")
def test_round_trip(config, kind):
    strategy, encode, decode, item_bytes, longest, examples = ROUND_TRIPS[kind]

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(strategy(config), min_size=1, max_size=longest))
    def check(items):
        data = encode(items, config)
        assert len(data) == len(items) * getattr(config, item_bytes)
        assert decode(data, config) == items
        if kind == "instructions":
            assert [isa.from_dict(isa.to_dict(i)) for i in items] == items

    check()


@pytest.mark.parametrize("config", CONFIGS[:1] + CONFIGS[-2:], ids=["default", "wide", "batch"])
def test_out_of_range_field_names_field_and_range(config):
    layout = isa.layout_for(config)
    for opcode, cls in isa.CLASSES.items():
        for f in layout.formats[opcode]:
            if f.name == "opcode":
                continue
            for bad in (f.hi + 1, f.lo - 1):
                insn = cls(**{f.name: bad})
                with pytest.raises(IsaError, match=rf"field {f.name}={bad} out of range "
                                                   rf"\[{f.lo}, {f.hi}\]"):
                    isa.encode([insn], config)
    for f in layout.uop:
        with pytest.raises(IsaError, match=rf"field {f.name}={f.hi + 1} out of range"):
            isa.encode_uops([isa.Uop(**{f.name: f.hi + 1})], config)


def test_fields_are_word_aligned_and_never_overlap():
    for config in CONFIGS:
        layout = isa.layout_for(config)
        for fields in list(layout.formats.values()) + [layout.uop]:
            used = 0
            for f in fields:
                mask = ((1 << f.width) - 1) << f.lsb
                assert not used & mask
                used |= mask
                assert f.lsb // 64 == (f.lsb + f.width - 1) // 64   # no field straddles a word


def test_config_too_big_for_128_bits_is_rejected_unless_wide():
    with pytest.raises(ConfigError, match=r"fields need \d+ bits, more than the 128-bit word; "
                                          r"set WIDE_ISA=true"):
        VTAConfig(LOG_ACC_BUFF_SIZE=18)
    with pytest.raises(ConfigError, match="GEMM fields need 150 bits"):
        VTAConfig(LOG_UOP_BUFF_SIZE=16, LOG_ACC_BUFF_SIZE=18, LOG_INP_BUFF_SIZE=16,
                  LOG_WGT_BUFF_SIZE=19)
    wide = VTAConfig(LOG_ACC_BUFF_SIZE=18, WIDE_ISA=True)
    assert wide.insn_bytes == 32 and wide.uop_elem_bytes == 8
    insn = isa.Gemm(dst_factor_out=wide.acc_depth - 1, uop_end=wide.uop_depth)
    assert isa.decode(isa.encode([insn], wide), wide) == [insn]


def test_decode_rejects_bad_streams():
    cfg = VTAConfig()
    with pytest.raises(IsaError, match="not a multiple of 16 bytes"):
        isa.decode(b"\0" * 17, cfg)
    with pytest.raises(IsaError, match="unknown opcode 7"):
        isa.decode(b"\x07" + b"\0" * 15, cfg)


def test_from_dict_ignores_extras_and_rejects_unknown_ops():
    insn = isa.Alu(alu_opcode=2, use_imm=1, imm=-3, iter_out=4)
    d = dict(isa.to_dict(insn), alu_opcode_name="ADD", bytes="00")
    assert isa.from_dict(d) == insn
    with pytest.raises(IsaError, match="unknown instruction op 'JUMP'"):
        isa.from_dict({"op": "JUMP"})


def test_count_gemm_uops_splits_reset_from_mac_uops():
    cfg = VTAConfig.preset("default")
    prog = [isa.Gemm(reset=1, uop_bgn=0, uop_end=4, iter_out=2, iter_in=3),
            isa.Gemm(uop_bgn=4, uop_end=20, iter_out=5, iter_in=7),
            isa.Alu(uop_bgn=0, uop_end=9, iter_out=9, iter_in=9),
            isa.Load(memory_type=isa.MemType.INP, x_size=1, y_size=1, x_stride=1),
            isa.Gemm(uop_bgn=3, uop_end=3, iter_out=9, iter_in=9),     # a NOP
            isa.Finish()]
    assert isa.count_gemm_uops(isa.encode(prog, cfg), cfg) == (16 * 5 * 7, 4 * 2 * 3)
