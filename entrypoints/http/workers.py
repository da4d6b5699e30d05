"""Live workers as the API sees them: `GET /api/workers`, the readiness check that counts the
workers serving the API's model, and the `inference_workers_alive` gauge.

The gauge is read by a scrape on a thread of its own, which cannot await the registry, so a task
of the API's lifespan counts the workers every third of their time-to-live and the gauge reads
that count (NaN while the registry cannot be reached).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator

from fastapi import APIRouter, FastAPI, Request

from entrypoints.container import Container
from entrypoints.http.schemas import WorkerBody, WorkersBody
from inference.worker_info import WorkerInfo

log = logging.getLogger(__name__)

workers_router = APIRouter(prefix="/api")


@workers_router.get("/workers", response_model=WorkersBody, summary="The live workers")
async def workers(request: Request) -> WorkersBody:
    """Every worker whose latest heartbeat is within its time-to-live
    (`INFERENCE_WORKER__HEARTBEAT_TTL_SECONDS`), whatever model it serves; 503 while the registry
    (Redis, in distributed mode) cannot be reached."""
    container: Container = request.app.state.container
    return WorkersBody(workers=[WorkerBody.of(worker) for worker in await container.worker_registry().live()])


class WorkerCount:
    """Counts the live workers that serve the API's model (same name and version)."""

    def __init__(self, container: Container) -> None:
        self._container = container
        self._needed: int = container.config.api.min_workers()
        self._every: float = container.config.worker.heartbeat_ttl_seconds() / 3
        self.latest: int | None = None  # None: not counted yet, or the registry is unreachable

    async def count(self) -> int:
        try:
            live = await self._container.worker_registry().live()
        except Exception:
            self.latest = None
            raise
        self.latest = sum(1 for worker in live if self._serves_our_model(worker))
        return self.latest

    async def check(self) -> str:
        """A readiness check: "ok" when enough workers serve the model, else how many do."""
        found = await self.count()
        if found >= self._needed:
            return "ok"
        model = self._container.model_info()
        return f"{found} live worker(s) serve {model.name} {model.version}; {self._needed} needed"

    def gauge_value(self) -> float:
        return math.nan if self.latest is None else float(self.latest)

    @contextlib.asynccontextmanager
    async def counting(self, _: FastAPI) -> AsyncIterator[None]:
        """Counts every third of the workers' time-to-live while the API runs (for the gauge)."""
        metrics = self._container.metrics()
        if metrics is not None:
            metrics.watch_workers_alive(self.gauge_value)
        task = asyncio.create_task(self._count_for_ever(), name="worker-count")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _count_for_ever(self) -> None:
        while True:
            try:
                await self.count()
            except Exception as exc:
                log.warning("could not count the live workers: %s", exc)
            await asyncio.sleep(self._every)

    def _serves_our_model(self, worker: WorkerInfo) -> bool:
        model = self._container.model_info()
        return (worker.model, worker.model_version) == (model.name, model.version)
