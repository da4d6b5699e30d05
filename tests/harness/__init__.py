"""What the end-to-end tests and the benchmarks share to drive a running service.

`tests.harness.cluster` launches the service as real processes, `tests.harness.ledger` accounts
for every submission, `tests.harness.checkpoints` writes the small models they load. The helpers
here are the ones every one of those needs.
"""

from __future__ import annotations

import math
import random
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

SUBMIT = "/api/inference/requests"


def free_port() -> int:
    """A TCP port nothing uses now, for a server about to start, chosen below the kernel's range
    of ephemeral ports: a port from that range (what binding port 0 gives) can be handed to any
    outgoing connection before the server binds it (a benchmark's worker once found its metrics
    port taken so: "Address already in use")."""
    low = _ephemeral_ports()[0]
    for _ in range(100):
        port = random.randrange(max(1024, low - 12_000), low)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use: another
        return port
    raise RuntimeError(f"no free TCP port found below {low}")


def _ephemeral_ports() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def wait_until_ready(url: str, timeout: float, alive: Callable[[], bool] = lambda: True) -> bool:
    """Poll `url`'s readiness until it answers 200 (True), `timeout` passes or `alive()` is False."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            if httpx.get(f"{url}/api/health/ready", timeout=2).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    return False


def percentile(values: Sequence[float], fraction: float) -> float:
    """The `fraction` quantile, interpolated between the two nearest values (0.5 is the median)."""
    if not values:
        raise ValueError("no values to take a percentile of")
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50, p95 and p99 of `values`: the figures every benchmark reports."""
    return {f"p{round(100 * q)}": percentile(values, q) for q in (0.5, 0.95, 0.99)}
