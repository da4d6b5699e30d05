"""How many CPUs this process may really use, for sizing the model backends' thread pools.

`os.cpu_count()` answers for the host: a container limited to 2 CPUs on a 64-core machine
would start 64 threads that fight over 2 CPUs' worth of time and get throttled. Shared by every
model backend; standard library only.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

# cgroup v2: "<quota> <period>" in microseconds, or "max <period>" when unlimited. Inside a
# container the cgroup namespace makes this the container's own limit.
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def available_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The CPUs this process may run on (its affinity), capped by the cgroup's CPU quota if any."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota(cpu_max)
    if quota is not None:
        # A fraction of a CPU is still work done; one thread too many only adds throttling jitter.
        cpus = min(cpus, max(1, math.ceil(quota)))
    return cpus


def cgroup_cpu_quota(cpu_max: Path = CGROUP_CPU_MAX) -> float | None:
    """The quota in CPUs (quota / period), or None when there is none or no cgroup v2 file."""
    try:
        fields = cpu_max.read_text().split()
    except OSError:
        return None
    if len(fields) != 2 or fields[0] == "max":
        return None
    try:
        quota, period = float(fields[0]), float(fields[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def resolve_threads(threads: int | None) -> int:
    """`threads` when given, else every CPU this process may use."""
    return threads if threads else available_cpus()
