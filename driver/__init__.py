"""vta.driver."""
