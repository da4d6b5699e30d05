"""Adapters: one module per technology behind a port, plus the in-memory adapters in `memory`."""
