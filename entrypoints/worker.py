"""The worker process: load the model, connect, run the worker's loops until SIGTERM or SIGINT.

The loops themselves (batches, dead letters, webhooks) are in `entrypoints.worker_loop`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from pathlib import Path

from entrypoints.container import Container, start_adapters, stop_adapters
from entrypoints.container.metering import serve_metrics, watch_broker_queue
from entrypoints.heap import settle_heap
from entrypoints.heartbeat import Heartbeat, describe_worker
from entrypoints.model_loading import load_model
from entrypoints.worker_loop import WorkerLoop

log = logging.getLogger(__name__)


def create_worker_loop(container: Container) -> WorkerLoop:
    worker, model, webhook = container.config.worker, container.model_info(), container.config.webhook
    dispatch = webhook.dispatch() and container.webhook_sender() is not None
    heartbeat_file = worker.heartbeat_file()
    heartbeat = Heartbeat(
        Path(heartbeat_file) if heartbeat_file else None,
        registry=container.worker_registry(),
        worker=describe_worker(
            model.name, model.version, container.config.model.backend(), worker.max_batch_size()
        ),
        ttl=worker.heartbeat_ttl_seconds(),
    )
    return WorkerLoop(
        consumer=container.worker_consumer(),
        load_classifier=lambda: load_model(container),
        process_batch=container.process_batch,
        settle_dead_letters=container.settle_dead_letters,
        max_batch_size=worker.max_batch_size(),
        max_batch_wait_ms=worker.max_batch_wait_ms(),
        batches_in_flight=worker.batches_in_flight(),
        heartbeat=heartbeat,
        deliver_webhooks=container.deliver_webhooks if dispatch else None,
        webhook_batch=webhook.batch_size(),
        webhook_poll=webhook.poll_seconds(),
    )


def run_worker(container: Container) -> None:
    """`serve_worker` on uvloop where it is installed (uvicorn picks it for the API too): the
    worker's loop is woken from the broker's and the model's threads for every batch, and
    uvloop's wake-ups and callbacks cost a fraction of the standard loop's."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve_worker(container))
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve_worker(container))


async def serve_worker(container: Container) -> None:
    """Run a worker until SIGTERM or SIGINT, then finish the batches in hand and return. The model
    loads first: one that cannot load raises ModelLoadError before the broker is touched."""
    try:
        await asyncio.to_thread(load_model, container)
        await start_adapters(container, "worker")
        settle_heap()  # the model, its runtime and the adapters live as long as the process
        watch_broker_queue(container.metrics(), container.consumer())
        with serve_metrics(container.metrics(), container.config.worker.metrics_port()):
            worker = create_worker_loop(container)
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, _stopper(worker, signum))
            await worker.run()
        log.info("worker stopped after %d deliveries", worker.processed)
    finally:
        await stop_adapters(container)


def _stopper(worker: WorkerLoop, signum: int) -> Callable[[], None]:
    def stop() -> None:
        log.info("%s: finishing the batches in hand, then stopping", signal.Signals(signum).name)
        worker.stop()

    return stop
