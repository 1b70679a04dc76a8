"""vta.boards: the boards the kit builds for, and everything a board needs.

* :mod:`~vta.boards.table` -- the board table (part, PS, ports, addresses, clock, AXI,
  DRAM bandwidth, default config, fabric capacity);
* :mod:`~vta.boards.build` -- ``vta board build``: Verilog, the block-design wrapper
  (:mod:`~vta.boards.wrapper`), the Vivado script (:mod:`~vta.boards.tcl`) and the
  bitstream cache (:mod:`~vta.boards.cache`);
* :mod:`~vta.boards.resources` -- ``vta hw resources``: yosys estimate and fit verdict;
* :mod:`~vta.boards.hwh` -- the hardware handoff of the generated block design;
* :mod:`~vta.boards.deploy` -- ``vta board deploy|run`` over SSH;
* :mod:`~vta.boards.pynq_sim` -- a ``pynq.Device`` served by the Verilator model (needs
  the ``pynq`` extra).

The PYNQ driver backend itself is ``vta.driver.pynq_device``.
"""
