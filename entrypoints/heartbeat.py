"""A worker's heartbeat: a file for its liveness check, and its entry in the worker registry.

Both beat on the event loop while it turns. A batch (decoded and classified in threads) does not
stop them: beating only between batches let a long one look dead, killed and redelivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from inference.clock import utc_now
from inference.ports import WorkerRegistry
from inference.worker_info import WorkerInfo

log = logging.getLogger(__name__)

FILE_SECONDS = 1.0


def describe_worker(model: str, model_version: str, backend: str, batch_size: int) -> WorkerInfo:
    """This process as the registry lists it; the id is unique even across a pid reused."""
    host, pid = socket.gethostname(), os.getpid()
    return WorkerInfo(
        id=f"{host}-{pid}-{uuid.uuid4().hex[:8]}",
        host=host,
        pid=pid,
        model=model,
        model_version=model_version,
        backend=backend,
        batch_size=batch_size,
        started_at=utc_now(),
    )


class Heartbeat:
    """Touches `path` every second, and beats `registry` every `ttl / 3` seconds as `worker`.

    `register` is the first beat, made once the model has loaded (a listed worker can take work);
    `run` beats until stopped, then deregisters, so that a graceful stop leaves the list at once
    while a killed worker drops out within `ttl`. A registry that cannot be reached is logged,
    never fatal: the worker's work does not depend on being listed.
    """

    def __init__(
        self, path: Path | None, registry: WorkerRegistry | None, worker: WorkerInfo | None, ttl: float
    ) -> None:
        self._path, self._registry, self._worker = path, registry, worker
        self._every = ttl / 3
        self._next_beat = 0.0
        self.last_batch_at: datetime | None = None

    async def register(self) -> None:
        await self._beat()

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                self._touch()
                if time.monotonic() >= self._next_beat:
                    await self._beat()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), min(FILE_SECONDS, self._every))
        finally:
            await self._deregister()

    def _touch(self) -> None:
        if self._path is None:
            return
        try:
            self._path.touch()
        except OSError:
            log.exception("could not touch the heartbeat file %s", self._path)

    async def _beat(self) -> None:
        if self._registry is None or self._worker is None:
            return
        self._next_beat = time.monotonic() + self._every
        try:
            await self._registry.heartbeat(replace(self._worker, last_batch_at=self.last_batch_at))
        except Exception as exc:
            log.warning("could not beat into the worker registry: %s", exc)

    async def _deregister(self) -> None:
        if self._registry is None or self._worker is None:
            return
        try:
            await self._registry.deregister(self._worker.id)
        except Exception as exc:
            log.warning("could not leave the worker registry (it drops this worker in time): %s", exc)
