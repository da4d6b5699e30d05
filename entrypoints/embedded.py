"""The embedded mode: the API and a worker in one process, on the in-memory adapters.

The server answers while the worker loads the model (an ONNX export on a first start takes a
while): readiness says `model: loading` meanwhile, `/api/models` answers from the manifest, and
submissions queue up. If the model cannot load, nothing would ever process a request: readiness
says `model: failed`, submissions get 503 `model_unavailable`, and `on_model_failure` is told
(`inference serve` then stops with the reason).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import NoReturn

from dependency_injector import providers
from fastapi import FastAPI

from entrypoints.container import Container, create_container
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from entrypoints.startup_errors import ModelLoadError
from entrypoints.worker import create_worker_loop
from entrypoints.worker_loop import WorkerLoop
from inference.errors import QueueUnavailable

log = logging.getLogger(__name__)

# A stopping worker finishes the batches in hand; past this it is abandoned (and its deliveries
# would be redelivered by a broker; in memory they vanish with the process anyway).
STOP_TIMEOUT_SECONDS = 30.0


class ModelUnavailable(QueueUnavailable):
    """The embedded worker has no model: a request accepted now would stay queued for ever."""

    code = "model_unavailable"


def create_embedded_app(
    container: Container | None = None, on_model_failure: Callable[[ModelLoadError], None] | None = None
) -> FastAPI:
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
        # Why is in the log: exception text may name paths and devices, and readiness is public.
        return "failed" if task.done() else "loading"

    def worker_ended(task: asyncio.Task[None]) -> None:
        error = None if task.cancelled() else task.exception()
        if isinstance(error, ModelLoadError):
            log.error("%s", error)
            container.submit_request.override(providers.Object(_refuse))
            if on_model_failure is not None:
                on_model_failure(error)
        elif error is not None:
            log.error("the embedded worker stopped", exc_info=error)

    @asynccontextmanager
    async def run_worker(_: FastAPI) -> AsyncIterator[None]:
        worker = create_worker_loop(container)
        task = asyncio.create_task(worker.run(), name="embedded-worker")
        task.add_done_callback(worker_ended)
        running.append((worker, task))
        try:
            yield
        finally:
            worker.stop()
            try:
                await asyncio.wait_for(task, STOP_TIMEOUT_SECONDS)
            except ModelLoadError:
                container.submit_request.reset_override()  # the next run of the app tries again
            except Exception:
                log.exception("the embedded worker did not stop cleanly")
            running.remove((worker, task))

    return create_app(container, extra_checks={"model": model_check}, lifespan_hooks=(run_worker,))


async def _refuse(*_: object, **__: object) -> NoReturn:
    raise ModelUnavailable("the model failed to load; the service's log says why")
