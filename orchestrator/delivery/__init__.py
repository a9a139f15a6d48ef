"""Pure delivery logic: no I/O."""
