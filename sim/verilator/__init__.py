"""vta.sim.verilator: the cycle-accurate simulator compiled from the generated Verilog."""
