"""Benchmark scripts: they print figures; no test asserts a wall-clock time."""
