"""vta.sim."""
