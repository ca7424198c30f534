"""HTTP controllers of the gateway."""
