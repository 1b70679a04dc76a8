"""vta.hw.gateware: the accelerator in Amaranth HDL, every size derived from VTAConfig."""
