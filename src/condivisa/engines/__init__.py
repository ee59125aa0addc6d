"""Pure numerical engines (numpy/pandas only; no I/O)."""
