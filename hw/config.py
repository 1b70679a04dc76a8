"""The one configuration object every layer of the kit derives its sizes from.

`VTAConfig` holds TVM's VTA configuration keys (``LOG_INP_WIDTH`` ... ``LOG_ACC_BUFF_SIZE``)
plus a few keys of our own (bus width, clock, command-queue depth, DRAM model timing, AXI
profile, ISA extensions).  Everything else -- element sizes, SRAM depths, the TVM-style
config string -- is a derived, read-only property, so two layers can never disagree.

Presets: ``default``, ``pynq``, ``ultra96``, ``zcu104`` (TVM's samples, identical core
parameters), ``k26`` (the Kria K26 SOM of the KV260/KR260: larger buffers in UltraRAM),
``fast`` and ``pynq_fast`` (``default`` and ``pynq`` with the co-design knobs below),
``default_mul`` (the default core with the ALU MUL extension, for requantization with
arbitrary scales) and ``tiny`` (BLOCK=4, small buffers: fast RTL simulation).

Implementation knobs (sweep parameters for hardware designers; results are bit-identical
either way, only area and timing change):

- ``GEMM_DSP_PACK``: compute two int8 products that share an input element in one DSP
  multiply (``a * ((w1 << 16) + w0)`` plus a rounding bias, split into two 16-bit halves),
  halving the GEMM core's DSP blocks: 128 instead of 256 for BLOCK=16.
- ``ALU_TENSOR_II``: 1 gives the accumulator SRAM two read ports so ALU uops with a tensor
  operand retire one per cycle (FPGA synthesis replicates the ACC SRAM for it); 2 keeps
  one read port and spends two cycles on each tensor-operand ALU uop.  Immediate ALU uops
  and GEMM uops retire one per cycle in both modes.
- ``CMD_QUEUE_DEPTH``: entries of each of the three command queues.
- ``ULTRA_RAM``: mark the input, weight and accumulator buffers ``ram_style = "ultra"`` so
  synthesis puts them in UltraRAM (UltraScale+ parts that have it, e.g. the K26): 4096 x 72
  bits per block, so a buffer up to 4096 elements deep costs the same blocks as a shallow
  one.

Co-design knobs (opt-in features that change what a program may say or how fast it runs;
off in TVM's presets, so their programs and results are unchanged -- docs/hardware.md):

- ``GEMM_OVERWRITE``: GEMM gets an ``overwrite`` flag (an ISA extension): its uops write
  ``ACC[dst] = INP[src] . WGT[wgt]`` instead of adding, so the first reduction step of an
  output tile replaces the separate reset pass.
- ``ALU_OVERLAP``: the compute module runs ALU instructions on their own unit, behind a
  queue of :data:`vta.hw.pipeline.ALU_QUEUE_DEPTH` instructions, so a GEMM may start while
  earlier ALU instructions still run (requantizing one output tile while the next one
  accumulates).  The accumulator and OUT buffers are split into two banks (the upper and
  lower halves); the program rule that makes this safe is in :mod:`vta.hw.pipeline`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = ["VTAConfig", "ConfigError", "PRESETS"]


# Keys whose values are log2 of a width in bits, with the allowed range.
_LOG_WIDTH_KEYS = {
    "LOG_INP_WIDTH": (3, 3),   # int8 input: the GEMM core and ISA assume it
    "LOG_WGT_WIDTH": (3, 3),   # int8 weight
    "LOG_ACC_WIDTH": (5, 5),   # int32 accumulator
}
_LOG_SHAPE_KEYS = {
    "LOG_BATCH": (0, 4),
    "LOG_BLOCK": (1, 6),
}
_LOG_BUFF_KEYS = ("LOG_UOP_BUFF_SIZE", "LOG_INP_BUFF_SIZE", "LOG_WGT_BUFF_SIZE",
                  "LOG_ACC_BUFF_SIZE")
_TARGETS = ("sim", "pynq", "ultra96", "zcu104", "k26", "tiny")
_AXI_PROFILES = ("axi3", "axi4")


@dataclass(frozen=True)
class VTAConfig:
    """A VTA hardware configuration (TVM ``vta_config.json`` keys plus the kit's own).

    Parameters are the JSON keys; widths and buffer sizes are log2 values (bits and bytes).
    Construction validates every key and raises :class:`ConfigError` naming the key and the
    allowed values.
    """

    TARGET: str = "sim"
    HW_VER: str = "0.0.2"
    LOG_INP_WIDTH: int = 3
    LOG_WGT_WIDTH: int = 3
    LOG_ACC_WIDTH: int = 5
    LOG_BATCH: int = 0
    LOG_BLOCK: int = 4
    LOG_UOP_BUFF_SIZE: int = 15
    LOG_INP_BUFF_SIZE: int = 15
    LOG_WGT_BUFF_SIZE: int = 18
    LOG_ACC_BUFF_SIZE: int = 17
    # -- the kit's own keys --------------------------------------------------------------
    BUS_WIDTH: int = 64            # AXI master data width in bits (64 or 128)
    CLOCK_MHZ: int = 100           # target fabric clock
    AXI_PROFILE: str = "axi3"      # axi3: 16-beat bursts (Zynq-7000); axi4: 256 (ZynqMP)
    CMD_QUEUE_DEPTH: int = 512     # per-module instruction queue entries in hardware
    DRAM_LATENCY: int = 32         # DRAM model: cycles from address to first data beat
    WIDE_ISA: bool = False         # 256-bit instructions / 64-bit uops for huge buffers
    ALU_MUL: bool = False          # ALU MUL opcode (an extension to TVM's ISA)
    # -- hardware-designer sweep parameters (no effect on the ISA or on results) ---------
    GEMM_DSP_PACK: bool = False    # two int8 products sharing an input in one DSP multiply
    ALU_TENSOR_II: int = 1         # cycles per tensor-operand ALU uop: 1 = two ACC read
                                   # ports (replicated ACC SRAM), 2 = one read port
    ULTRA_RAM: bool = False        # INP/WGT/ACC buffers in UltraRAM (ram_style "ultra")
    # -- co-design knobs (opt-in; docs/hardware.md) -------------------------------------
    GEMM_OVERWRITE: bool = False   # GEMM overwrite flag: the first reduction step needs
                                   # no reset pass (an ISA extension)
    ALU_OVERLAP: bool = False      # ALU instructions on their own unit, overlapping GEMMs
                                   # on the other accumulator bank

    # ---------------------------------------------------------------- construction
    def __post_init__(self) -> None:
        if self.TARGET not in _TARGETS:
            raise ConfigError(f"TARGET must be one of {', '.join(_TARGETS)}, not {self.TARGET!r}")
        if self.HW_VER != "0.0.2":
            raise ConfigError(f"HW_VER must be '0.0.2' (the ISA this kit implements), "
                              f"not {self.HW_VER!r}")
        for key, (lo, hi) in {**_LOG_WIDTH_KEYS, **_LOG_SHAPE_KEYS}.items():
            _check_int(key, getattr(self, key), lo, hi)
        for key in _LOG_BUFF_KEYS:
            _check_int(key, getattr(self, key), 4, 24)
        _check_choice("BUS_WIDTH", self.BUS_WIDTH, (64, 128))
        _check_int("CLOCK_MHZ", self.CLOCK_MHZ, 1, 1000)
        _check_choice("AXI_PROFILE", self.AXI_PROFILE, _AXI_PROFILES)
        _check_int("CMD_QUEUE_DEPTH", self.CMD_QUEUE_DEPTH, 2, 65536)
        if self.CMD_QUEUE_DEPTH & (self.CMD_QUEUE_DEPTH - 1):
            raise ConfigError(f"CMD_QUEUE_DEPTH must be a power of two, "
                              f"not {self.CMD_QUEUE_DEPTH}")
        _check_int("DRAM_LATENCY", self.DRAM_LATENCY, 0, 100000)
        _check_choice("WIDE_ISA", self.WIDE_ISA, (False, True))
        _check_choice("ALU_MUL", self.ALU_MUL, (False, True))
        _check_choice("GEMM_DSP_PACK", self.GEMM_DSP_PACK, (False, True))
        _check_choice("ALU_TENSOR_II", self.ALU_TENSOR_II, (1, 2))
        _check_choice("ULTRA_RAM", self.ULTRA_RAM, (False, True))
        _check_choice("GEMM_OVERWRITE", self.GEMM_OVERWRITE, (False, True))
        _check_choice("ALU_OVERLAP", self.ALU_OVERLAP, (False, True))
        # Every buffer must hold at least one element, and the SRAM address fields of
        # LOAD/STORE (16 bits) must reach every element.
        for key, elem_bytes in (("LOG_UOP_BUFF_SIZE", self.uop_elem_bytes),
                                ("LOG_INP_BUFF_SIZE", self.inp_elem_bytes),
                                ("LOG_WGT_BUFF_SIZE", self.wgt_elem_bytes),
                                ("LOG_ACC_BUFF_SIZE", self.acc_elem_bytes)):
            size = 1 << getattr(self, key)
            if size < 2 * elem_bytes:
                raise ConfigError(f"{key}={getattr(self, key)} gives {size} bytes, fewer than "
                                  f"two {elem_bytes}-byte elements; use at least "
                                  f"{(2 * elem_bytes).bit_length() - 1}")
            if size // elem_bytes > 1 << 16:
                raise ConfigError(f"{key}={getattr(self, key)} gives {size // elem_bytes} "
                                  f"elements, more than the 16-bit SRAM address of "
                                  f"LOAD/STORE reaches (65536)")
        if self.out_buff_size < 2 * self.out_elem_bytes:
            raise ConfigError("LOG_ACC_BUFF_SIZE is too small for an OUT buffer of two elements")
        # The instruction fields must fit the instruction word: checked by the ISA layout.
        from .isa import layout_for  # local import: isa imports this module
        layout_for(self)

    @classmethod
    def preset(cls, name: str) -> VTAConfig:
        """Return a named preset (a key of :data:`PRESETS`)."""
        try:
            return cls(**PRESETS[name])
        except KeyError:
            raise ConfigError(f"unknown preset {name!r}; presets are "
                              f"{', '.join(PRESETS)}") from None

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> VTAConfig:
        """Build from TVM-style keys; unknown keys are an error naming them."""
        known = {f.name for f in fields(cls)}
        unknown = [k for k in values if k not in known]
        if unknown:
            raise ConfigError(f"unknown config key {unknown[0]!r}; known keys are "
                              f"{', '.join(sorted(known))}")
        base: dict[str, Any] = {}
        target = values.get("TARGET")
        if isinstance(target, str) and target in PRESETS:
            base = dict(PRESETS[target])    # a target's own keys default to its preset
        base.update(values)
        for f in fields(cls):
            if f.name in base:
                expected = type(f.default)
                value = base[f.name]
                if expected is int and (isinstance(value, bool) or not isinstance(value, int)):
                    raise ConfigError(f"{f.name} must be an integer, not {value!r}")
                if expected is bool and not isinstance(value, bool):
                    raise ConfigError(f"{f.name} must be true or false, not {value!r}")
                if expected is str and not isinstance(value, str):
                    raise ConfigError(f"{f.name} must be a string, not {value!r}")
        return cls(**base)

    @classmethod
    def from_json(cls, path: str | Path) -> VTAConfig:
        """Read a TVM-style ``vta_config.json`` (our own keys optional)."""
        try:
            values = json.loads(Path(path).read_text())
        except OSError as e:
            raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
        except json.JSONDecodeError as e:
            raise ConfigError(f"config file {path} is not valid JSON: {e}") from None
        if not isinstance(values, dict):
            raise ConfigError(f"config file {path} must hold a JSON object of keys")
        return cls.from_dict(values)

    @classmethod
    def load(cls, spec: str | Path | VTAConfig | None) -> VTAConfig:
        """Resolve what a user typed: a preset name, a JSON file path, or a config."""
        if spec is None:
            return cls.preset("default")
        if isinstance(spec, VTAConfig):
            return spec
        spec = str(spec)
        if spec in PRESETS:
            return cls.preset(spec)
        if spec.endswith(".json") or Path(spec).exists():
            return cls.from_json(spec)
        raise ConfigError(f"config {spec!r} is neither a preset ({', '.join(PRESETS)}) "
                          f"nor a JSON file")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def to_json(self, path: str | Path | None = None) -> str:
        """Serialise to JSON (TVM keys first); write to ``path`` if given."""
        text = json.dumps(self.to_dict(), indent=2) + "\n"
        if path is not None:
            Path(path).write_text(text)
        return text

    def replace(self, **changes: Any) -> VTAConfig:
        return dataclasses.replace(self, **changes)

    # ---------------------------------------------------------------- widths (bits)
    @property
    def inp_width(self) -> int:
        return 1 << self.LOG_INP_WIDTH

    @property
    def wgt_width(self) -> int:
        return 1 << self.LOG_WGT_WIDTH

    @property
    def acc_width(self) -> int:
        return 1 << self.LOG_ACC_WIDTH

    @property
    def out_width(self) -> int:
        return self.inp_width

    @property
    def LOG_OUT_WIDTH(self) -> int:  # noqa: N802 - TVM's name
        return self.LOG_INP_WIDTH

    @property
    def batch(self) -> int:
        return 1 << self.LOG_BATCH

    @property
    def block(self) -> int:
        return 1 << self.LOG_BLOCK

    @property
    def block_in(self) -> int:
        return self.block

    @property
    def block_out(self) -> int:
        return self.block

    @property
    def macs_per_cycle(self) -> int:
        """Peak MACs per cycle of the GEMM core: BATCH x BLOCK_IN x BLOCK_OUT."""
        return self.batch * self.block_in * self.block_out

    @property
    def gemm_multipliers(self) -> int:
        """Hardware multipliers (DSP blocks) of the GEMM core: one per MAC, or one per two
        MACs sharing an input element with ``GEMM_DSP_PACK``."""
        return self.macs_per_cycle // 2 if self.GEMM_DSP_PACK else self.macs_per_cycle

    # ---------------------------------------------------------------- elements (bytes)
    @property
    def uop_elem_bytes(self) -> int:
        return 8 if self.WIDE_ISA else 4

    @property
    def insn_bytes(self) -> int:
        return 32 if self.WIDE_ISA else 16

    @property
    def insn_width(self) -> int:
        return self.insn_bytes * 8

    @property
    def uop_width(self) -> int:
        return self.uop_elem_bytes * 8

    @property
    def inp_elem_bytes(self) -> int:
        return self.batch * self.block_in * self.inp_width // 8

    @property
    def wgt_elem_bytes(self) -> int:
        return self.block_out * self.block_in * self.wgt_width // 8

    @property
    def acc_elem_bytes(self) -> int:
        return self.batch * self.block_out * self.acc_width // 8

    @property
    def out_elem_bytes(self) -> int:
        return self.batch * self.block_out * self.out_width // 8

    def elem_bytes(self, memory_type: int) -> int:
        """Element size in bytes of an ISA memory type (UOP, WGT, INP, ACC, OUT, ACC_8BIT).

        ACC_8BIT elements are read from DRAM as BATCH x BLOCK_OUT int8 values.
        """
        sizes = {0: self.uop_elem_bytes, 1: self.wgt_elem_bytes, 2: self.inp_elem_bytes,
                 3: self.acc_elem_bytes, 4: self.out_elem_bytes, 5: self.out_elem_bytes}
        try:
            return sizes[memory_type]
        except KeyError:
            raise ConfigError(f"unknown memory type {memory_type}") from None

    # ---------------------------------------------------------------- buffers
    @property
    def LOG_OUT_BUFF_SIZE(self) -> int:  # noqa: N802 - TVM's name
        return self.LOG_ACC_BUFF_SIZE + self.LOG_OUT_WIDTH - self.LOG_ACC_WIDTH

    @property
    def uop_buff_size(self) -> int:
        return 1 << self.LOG_UOP_BUFF_SIZE

    @property
    def inp_buff_size(self) -> int:
        return 1 << self.LOG_INP_BUFF_SIZE

    @property
    def wgt_buff_size(self) -> int:
        return 1 << self.LOG_WGT_BUFF_SIZE

    @property
    def acc_buff_size(self) -> int:
        return 1 << self.LOG_ACC_BUFF_SIZE

    @property
    def out_buff_size(self) -> int:
        return 1 << self.LOG_OUT_BUFF_SIZE

    @property
    def uop_depth(self) -> int:
        return self.uop_buff_size // self.uop_elem_bytes

    @property
    def inp_depth(self) -> int:
        return self.inp_buff_size // self.inp_elem_bytes

    @property
    def wgt_depth(self) -> int:
        return self.wgt_buff_size // self.wgt_elem_bytes

    @property
    def acc_depth(self) -> int:
        return self.acc_buff_size // self.acc_elem_bytes

    @property
    def out_depth(self) -> int:
        return self.out_buff_size // self.out_elem_bytes

    @property
    def log_uop_depth(self) -> int:
        return self.uop_depth.bit_length() - 1

    @property
    def log_inp_depth(self) -> int:
        return self.inp_depth.bit_length() - 1

    @property
    def log_wgt_depth(self) -> int:
        return self.wgt_depth.bit_length() - 1

    @property
    def log_acc_depth(self) -> int:
        return self.acc_depth.bit_length() - 1

    @property
    def log_out_depth(self) -> int:
        return self.out_depth.bit_length() - 1

    def depth(self, memory_type: int) -> int:
        """SRAM depth (elements) that a LOAD/STORE of ``memory_type`` addresses."""
        depths = {0: self.uop_depth, 1: self.wgt_depth, 2: self.inp_depth,
                  3: self.acc_depth, 4: self.out_depth, 5: self.acc_depth}
        try:
            return depths[memory_type]
        except KeyError:
            raise ConfigError(f"unknown memory type {memory_type}") from None

    @property
    def sram_attrs(self) -> dict[str, str]:
        """Synthesis attributes of the input, weight and accumulator buffers' memories:
        ``ram_style = "ultra"`` with ``ULTRA_RAM`` (Vivado and yosys then use UltraRAM),
        else none."""
        return {"ram_style": "ultra"} if self.ULTRA_RAM else {}

    # ---------------------------------------------------------------- bus and names
    @property
    def bus_bytes(self) -> int:
        return self.BUS_WIDTH // 8

    @property
    def max_burst_beats(self) -> int:
        return 16 if self.AXI_PROFILE == "axi3" else 256

    @property
    def name(self) -> str:
        """TVM's config string, e.g. ``1x16_i8w8a32_15_15_18_17``."""
        return (f"{self.batch}x{self.block}_i{self.inp_width}w{self.wgt_width}"
                f"a{self.acc_width}_{self.LOG_UOP_BUFF_SIZE}_{self.LOG_INP_BUFF_SIZE}_"
                f"{self.LOG_WGT_BUFF_SIZE}_{self.LOG_ACC_BUFF_SIZE}")

    @property
    def model_name(self) -> str:
        """TVM's model name: ``TARGET_`` + the config string."""
        return f"{self.TARGET}_{self.name}"

    def derived(self) -> dict[str, Any]:
        """Every derived value, for ``vta config show`` and the hardware manifest."""
        return {
            "name": self.name, "model_name": self.model_name,
            "inp_width": self.inp_width, "wgt_width": self.wgt_width,
            "acc_width": self.acc_width, "out_width": self.out_width,
            "batch": self.batch, "block_in": self.block_in, "block_out": self.block_out,
            "macs_per_cycle": self.macs_per_cycle, "gemm_multipliers": self.gemm_multipliers,
            "insn_bytes": self.insn_bytes, "uop_elem_bytes": self.uop_elem_bytes,
            "inp_elem_bytes": self.inp_elem_bytes, "wgt_elem_bytes": self.wgt_elem_bytes,
            "acc_elem_bytes": self.acc_elem_bytes, "out_elem_bytes": self.out_elem_bytes,
            "LOG_OUT_BUFF_SIZE": self.LOG_OUT_BUFF_SIZE,
            "uop_depth": self.uop_depth, "inp_depth": self.inp_depth,
            "wgt_depth": self.wgt_depth, "acc_depth": self.acc_depth,
            "out_depth": self.out_depth,
            "log_uop_depth": self.log_uop_depth, "log_inp_depth": self.log_inp_depth,
            "log_wgt_depth": self.log_wgt_depth, "log_acc_depth": self.log_acc_depth,
            "log_out_depth": self.log_out_depth,
            "bus_bytes": self.bus_bytes, "max_burst_beats": self.max_burst_beats,
            "peak_gops": 2 * self.macs_per_cycle * self.CLOCK_MHZ / 1000,
        }


def _check_int(key: str, value: Any, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key} must be an integer in [{lo}, {hi}], not {value!r}")
    if not lo <= value <= hi:
        allowed = str(lo) if lo == hi else f"[{lo}, {hi}]"
        raise ConfigError(f"{key} must be {allowed}, not {value}")


def _check_choice(key: str, value: Any, allowed: tuple) -> None:
    if type(value) is not type(allowed[0]) or value not in allowed:
        raise ConfigError(f"{key} must be one of {', '.join(map(str, allowed))}, not {value!r}")


PRESETS: dict[str, dict[str, Any]] = {
    "default": {"TARGET": "sim"},
    # The xc7z020 has 220 DSPs and 140 BRAM36: pack two GEMM products per DSP (128 for
    # 256 MACs), keep one ACC read port (no replicated 128 KiB ACC SRAM) and an 8 KiB uop
    # buffer (2 BRAM36 instead of 8; ResNet-18's uop kernels fit, 0.1% fewer cycles): the
    # design stays under 80% of every resource (docs/boards.md).
    "pynq": {"TARGET": "pynq", "BUS_WIDTH": 64, "CLOCK_MHZ": 100, "AXI_PROFILE": "axi3",
             "DRAM_LATENCY": 32, "GEMM_DSP_PACK": True, "ALU_TENSOR_II": 2,
             "LOG_UOP_BUFF_SIZE": 13},
    "ultra96": {"TARGET": "ultra96", "BUS_WIDTH": 128, "CLOCK_MHZ": 333,
                "AXI_PROFILE": "axi4", "DRAM_LATENCY": 48},
    "zcu104": {"TARGET": "zcu104", "BUS_WIDTH": 128, "CLOCK_MHZ": 333,
               "AXI_PROFILE": "axi4", "DRAM_LATENCY": 48},
    # The K26 SOM (KV260, KR260): 64 UltraRAM blocks hold the input, weight and accumulator
    # buffers at 4096 elements each (64 KiB, 1 MiB, 256 KiB: 2, 4 and 2x the zcu104's, in
    # 47 URAM288), which needs the wide ISA's 64-bit uops; 250 MHz for the -2LV part.
    "k26": {"TARGET": "k26", "BUS_WIDTH": 128, "CLOCK_MHZ": 250, "AXI_PROFILE": "axi4",
            "DRAM_LATENCY": 48, "ULTRA_RAM": True, "WIDE_ISA": True,
            "LOG_INP_BUFF_SIZE": 16, "LOG_WGT_BUFF_SIZE": 20, "LOG_ACC_BUFF_SIZE": 18},
    # The co-design presets (docs/hardware.md): TVM's sizes with the opt-in features; the
    # default-sized one on a 128-bit bus (the 1x1 stride-2 layers are bound by DMA on 64).
    "fast": {"TARGET": "sim", "BUS_WIDTH": 128, "GEMM_OVERWRITE": True, "ALU_OVERLAP": True},
    "pynq_fast": {"TARGET": "pynq", "BUS_WIDTH": 64, "CLOCK_MHZ": 100, "AXI_PROFILE": "axi3",
                  "DRAM_LATENCY": 32, "GEMM_DSP_PACK": True, "ALU_TENSOR_II": 2,
                  "LOG_UOP_BUFF_SIZE": 13, "GEMM_OVERWRITE": True, "ALU_OVERLAP": True},
    # The default core with the ALU MUL extension: requantization with arbitrary
    # (non-power-of-two) scales runs on the accelerator (docs/quantization.md).
    "default_mul": {"TARGET": "sim", "ALU_MUL": True},
    "tiny": {"TARGET": "tiny", "LOG_BLOCK": 2, "LOG_UOP_BUFF_SIZE": 11,
             "LOG_INP_BUFF_SIZE": 11, "LOG_WGT_BUFF_SIZE": 12, "LOG_ACC_BUFF_SIZE": 13,
             "BUS_WIDTH": 64, "CMD_QUEUE_DEPTH": 32, "DRAM_LATENCY": 8},
}
