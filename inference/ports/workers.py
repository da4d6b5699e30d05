"""Which workers are alive, shared by every process that reports them."""

from __future__ import annotations

from abc import abstractmethod
from typing import Protocol

from inference.worker_info import WorkerInfo


class WorkerRegistry(Protocol):
    """Who is alive: each worker beats at least every `ttl / 3` seconds, and one that stops
    beating (killed, frozen, partitioned) drops out of `live` within the registry's `ttl`."""

    @abstractmethod
    async def heartbeat(self, worker: WorkerInfo) -> None:
        """Record `worker` as live for the registry's `ttl` seconds from now, replacing what its
        id held (its `last_batch_at`, say) and stamping `seen_at` with the time now. Raises
        StoreUnavailable when the registry cannot be reached."""

    @abstractmethod
    async def deregister(self, worker_id: str) -> None:
        """Drop the worker from `live` at once (a graceful stop); nothing if it is not there."""

    @abstractmethod
    async def live(self) -> list[WorkerInfo]:
        """Every worker whose latest heartbeat is less than `ttl` seconds old, each once, sorted
        by id, as its heartbeat described it (with `seen_at`). Reading costs the same whatever
        else the registry's server holds (no scan of its whole key space). Raises
        StoreUnavailable when the registry cannot be reached."""
