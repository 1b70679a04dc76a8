"""vta.compiler."""
