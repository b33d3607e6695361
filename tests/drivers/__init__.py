"""I/O tests of the drivers and observers against the sandbox's real components."""
