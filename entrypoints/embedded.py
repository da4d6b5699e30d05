"""The embedded mode: the API and a worker in one process, on the in-memory adapters."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from entrypoints.container import Container, create_container
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from entrypoints.worker import WorkerLoop, create_worker_loop

log = logging.getLogger(__name__)

# A stopping worker finishes the batch in hand; past this it is abandoned (and its deliveries
# would be redelivered by a broker; in memory they vanish with the process anyway).
STOP_TIMEOUT_SECONDS = 30.0


def create_embedded_app(container: Container | None = None) -> FastAPI:
    container = container or create_container(Settings(mode="embedded"))
    # Each run of the app's lifespan gets a worker of its own: an app may be started more than
    # once (tests, tools that load the schema), and a stopped worker does not start again.
    running: list[tuple[WorkerLoop, asyncio.Task[None]]] = []

    async def model_check() -> str:
        if not running:
            return "loading"
        worker, task = running[-1]
        if worker.model_ready:
            return "ok"
        if task.done() and not task.cancelled() and task.exception():
            return f"failed: {task.exception()}"
        return "loading"

    @asynccontextmanager
    async def run_worker(_: FastAPI) -> AsyncIterator[None]:
        worker = create_worker_loop(container)
        task = asyncio.create_task(worker.run(), name="embedded-worker")
        task.add_done_callback(_report_crash)
        running.append((worker, task))
        try:
            yield
        finally:
            worker.stop()
            try:
                await asyncio.wait_for(task, STOP_TIMEOUT_SECONDS)
            except Exception:
                log.exception("the embedded worker did not stop cleanly")
            running.remove((worker, task))

    return create_app(container, extra_checks={"model": model_check}, lifespan_hooks=(run_worker,))


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the embedded worker stopped", exc_info=task.exception())
