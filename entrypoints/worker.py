"""The worker: receive a batch → classify → store → ack, until asked to stop.

Stopping is graceful: the batch in hand is finished and acknowledged, then the loop ends and
whatever the queue still holds for this consumer goes back for redelivery.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from entrypoints.container import Container
from inference.ports import Classifier, Delivery, Queue
from inference.processing import BatchReport, ProcessBatch

log = logging.getLogger(__name__)


class WorkerLoop:
    def __init__(
        self,
        queue: Queue,
        load_classifier: Callable[[], Classifier],
        process_batch: Callable[[], ProcessBatch],
        max_batch_size: int,
        max_batch_wait_ms: float,
        idle_wait: float = 1.0,
    ) -> None:
        self._queue = queue
        self._load_classifier = load_classifier
        self._process_batch = process_batch
        self._max_batch_size = max_batch_size
        self._fill_wait = max_batch_wait_ms / 1000
        self._idle_wait = idle_wait
        self._stop = asyncio.Event()
        self.model_ready = False
        self.processed = 0

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        # Loading and warming the model is seconds of CPU work: keep the event loop free.
        await asyncio.to_thread(self._load_classifier)
        self.model_ready = True
        step = self._process_batch()
        try:
            while not self._stop.is_set():
                deliveries = await self._receive_unless_stopped()
                if deliveries:
                    await self._process(step, deliveries)
        finally:
            await self._queue.close()

    async def _process(self, step: ProcessBatch, deliveries: list[Delivery]) -> None:
        try:
            _log_report(await step(deliveries))
        except Exception:
            # Whatever broke, the batch must not be lost: hand it back and keep serving.
            log.exception("batch of %d failed; requeueing it", len(deliveries))
            for delivery in deliveries:
                try:
                    await self._queue.reject(delivery, requeue=True)
                except Exception:
                    log.exception("could not requeue %s", delivery.request.id)
            await asyncio.sleep(self._idle_wait)
        self.processed += len(deliveries)

    async def _receive_unless_stopped(self) -> list[Delivery]:
        receiving = asyncio.ensure_future(
            self._queue.receive(self._max_batch_size, self._fill_wait, self._idle_wait)
        )
        stopping = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not receiving.done():
            receiving.cancel()
            return []
        return receiving.result()  # a batch already received is finished even when stopping


def create_worker_loop(container: Container) -> WorkerLoop:
    return WorkerLoop(
        queue=container.queue(),
        load_classifier=container.classifier,
        process_batch=container.process_batch,
        max_batch_size=container.config.worker.max_batch_size(),
        max_batch_wait_ms=container.config.worker.max_batch_wait_ms(),
    )


def _log_report(report: BatchReport) -> None:
    log.debug(
        "batch: %d succeeded, %d failed, %d skipped, %d requeued",
        report.succeeded,
        report.failed,
        report.skipped,
        report.requeued,
    )
