"""vta.runtime."""
