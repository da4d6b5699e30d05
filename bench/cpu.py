"""CPU time per process, for the benchmarks that say where a request's cost goes.

Read from /proc, so Linux only: the API and workers by their pids, the local RabbitMQ and Redis
servers found by their programs' names (shared servers: run the benchmark on a quiet machine).
"""

from __future__ import annotations

import os
import resource
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_pids(rabbitmq: str = "", redis: str = "") -> dict[str, int]:
    """The RabbitMQ and Redis servers' processes, where found: the first of each program whose
    command line contains the given text (a private node's name or port; "": any)."""
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        program = command.split(b"\0")[0]
        for name, wanted, marker in (("rabbitmq", b"beam.smp", rabbitmq), ("redis", b"redis-server", redis)):
            if wanted in program and marker.encode() in command:
                found.setdefault(name, int(entry.name))
    return found


def cpu_clock() -> tuple[int, int]:
    """(idle, all) time of the machine's CPUs so far, in clock ticks, from /proc/stat's first line
    (idle counts iowait; "all" runs from user to steal: guest time is inside user)."""
    fields = [int(field) for field in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return fields[3] + fields[4], sum(fields)


def idle_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share of the CPUs' time that was idle between two `cpu_clock()` readings."""
    return (after[0] - before[0]) / max(1, after[1] - before[1])


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """CPU seconds each named process spent between `start()` and `stop()`."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = pids
        self._before: dict[str, float] = {}
        self.spent: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in self._pids.items()}

    def start(self) -> None:
        self._before = self._read()

    def stop(self) -> dict[str, float]:
        after = self._read()
        self.spent = {name: after[name] - self._before[name] for name in after}
        return self.spent
