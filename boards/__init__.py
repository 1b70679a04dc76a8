"""vta.boards: the boards the kit builds for, and everything a board needs.

* :mod:`~vta.boards.table` -- the board table (part, PS, ports, addresses, AXI, DRAM
  bandwidth, default config and its clock, fabric capacity, PYNQ lines);
* :mod:`~vta.boards.vivado` -- the Vivado releases the block designs target and their IP;
* :mod:`~vta.boards.build` -- ``vta board build``: Verilog, the block-design wrapper
  (:mod:`~vta.boards.wrapper`), the Vivado script (:mod:`~vta.boards.tcl`) and the
  bitstream cache (:mod:`~vta.boards.cache`);
* :mod:`~vta.boards.resources` -- ``vta hw resources``: yosys estimate and fit verdict;
  :mod:`~vta.boards.fit` -- a board's design under the board build's rules, cached;
* :mod:`~vta.boards.hwh` -- the hardware handoff of the generated block design;
* :mod:`~vta.boards.deploy` -- ``vta board deploy|run`` over SSH, after the checks of
  :mod:`~vta.boards.board_check` (PYNQ, Python, memory, which board, which bitstream);
* :mod:`~vta.boards.pynq_sim` -- a ``pynq.Device`` served by the Verilator model (needs
  the ``pynq`` extra).

The PYNQ driver backend itself is ``vta.driver.pynq_device``, the PYNQ lines it runs on
``vta.driver.pynq_lines``; ``vta board predict`` compiles models, so it lives in
``vta.compiler.board_predict``.
"""
