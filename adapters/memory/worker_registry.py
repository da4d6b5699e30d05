"""Live workers in memory: the embedded mode's own worker, and the unit tests' registry."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from inference.ports import WorkerRegistry
from inference.worker_info import WorkerInfo


class MemoryWorkerRegistry(WorkerRegistry):
    """A worker is live for `ttl` seconds (of `clock`, monotonic) after its latest heartbeat.

    Thread-safe; WorkerInfo is immutable, so handing entries out is as safe as copying them.
    Expired entries are dropped as `live` reads, so the registry holds no more than the workers
    that beat within the last `ttl`.
    """

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl, self._clock = ttl, clock
        self._lock = threading.Lock()
        self._workers: dict[str, tuple[WorkerInfo, float]] = {}

    async def heartbeat(self, worker: WorkerInfo) -> None:
        seen = replace(worker, seen_at=datetime.now(UTC))
        with self._lock:
            self._workers[worker.id] = (seen, self._clock() + self._ttl)

    async def deregister(self, worker_id: str) -> None:
        with self._lock:
            self._workers.pop(worker_id, None)

    async def live(self) -> list[WorkerInfo]:
        with self._lock:
            now = self._clock()
            for expired in [id for id, (_, until) in self._workers.items() if until <= now]:
                del self._workers[expired]
            return sorted((info for info, _ in self._workers.values()), key=lambda info: info.id)
