"""vta.boards."""
