"""HTTP controllers of the sandbox."""
