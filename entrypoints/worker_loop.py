"""The worker's loops: receive a batch → classify → store → ack (`batch_pipeline`), until asked
to stop.

Beside it run smaller loops: one settles dead letters (marks their requests failed), one calls
the webhooks that are due (the dispatcher; INFERENCE_WEBHOOK__DISPATCH). Stopping is
graceful: the batches in hand (the one in the model, the one started behind it) are finished and
acknowledged, then the loops end and whatever the queue still holds for this consumer goes back
for redelivery. `entrypoints.worker` builds and runs it in a process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from entrypoints.batch_pipeline import MAX_BACKOFF_SECONDS, BatchPipeline
from entrypoints.heartbeat import Heartbeat
from entrypoints.unless import unless
from inference.backoff import Backoff
from inference.clock import utc_now
from inference.ports import Classifier, Consumer
from inference.use_cases.dead_letters import SettleDeadLetters
from inference.use_cases.webhooks import DeliverWebhooks
from inference.use_cases.worker import BatchReport, ProcessBatch

# The worker's lines keep the logger name operators filter on, whichever module writes them.
log = logging.getLogger("entrypoints.worker")

T = TypeVar("T")

DEAD_LETTERS_PER_STEP = 16


class WorkerLoop:
    """Runs once: make a new one to run again (its stop event belongs to one event loop)."""

    def __init__(
        self,
        consumer: Consumer,
        load_classifier: Callable[[], Classifier],
        process_batch: Callable[[], ProcessBatch],
        settle_dead_letters: Callable[[], SettleDeadLetters],
        max_batch_size: int,
        max_batch_wait_ms: float,
        batches_in_flight: int = 1,
        idle_wait: float = 1.0,
        heartbeat: Heartbeat | None = None,
        deliver_webhooks: Callable[[], DeliverWebhooks] | None = None,
        webhook_batch: int = 16,
        webhook_poll: float = 1.0,
    ) -> None:
        self._deliver_webhooks, self._webhook_batch, self._webhook_poll = (
            deliver_webhooks,
            webhook_batch,
            webhook_poll,
        )
        self._consumer = consumer
        self._load_classifier = load_classifier
        self._process_batch = process_batch
        self._settle_dead_letters = settle_dead_letters
        self._max_batch_size = max_batch_size
        self._fill_wait = max_batch_wait_ms / 1000
        self._batches_in_flight = batches_in_flight
        self._idle_wait = idle_wait
        self._heartbeat = heartbeat or Heartbeat(None, None, None, ttl=1.0)
        self._stop = asyncio.Event()
        self.model_ready = False
        self.processed = 0

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        # Loading and warming the model is seconds of CPU work: keep the event loop free.
        classifier = await asyncio.to_thread(self._load_classifier)
        await self._heartbeat.register()  # listed once it can take work, before it says ready
        self.model_ready = True
        # Every line of this worker names its model (the tasks below copy this context).
        structlog.contextvars.bind_contextvars(model=classifier.model.name)
        try:
            # While one batch is in the model, the next is received and started, and the last
            # one's outcomes stored and acknowledged (`batch_pipeline`).
            batches = BatchPipeline(
                self._consumer,
                self._process_batch(),
                self._stop,
                self._batch_done,
                max_batch_size=self._max_batch_size,
                fill_wait=self._fill_wait,
                idle_wait=self._idle_wait,
                in_model=self._batches_in_flight,
            )
            await asyncio.gather(
                batches.run(),
                self._settle_letters(),
                self._dispatch_webhooks(),
                self._heartbeat.run(self._stop),
            )
        finally:
            await self._consumer.close()

    def _batch_done(self, size: int, report: BatchReport | None) -> None:
        self.processed += size
        if report is not None:
            self._heartbeat.last_batch_at = utc_now()

    async def _settle_letters(self) -> None:
        settle, backoff = self._settle_dead_letters(), Backoff(self._idle_wait, MAX_BACKOFF_SECONDS)
        while not self._stop.is_set():
            try:
                report = await self._unless_stopped(settle(DEAD_LETTERS_PER_STEP, self._idle_wait))
            except Exception:
                log.exception("settling dead letters failed")
                await self._pause(backoff.next())
                continue
            if report is not None and report.requeued:
                await self._pause(backoff.next())
            else:
                backoff.reset()

    async def _dispatch_webhooks(self) -> None:
        if self._deliver_webhooks is None:
            return
        deliver, backoff = self._deliver_webhooks(), Backoff(self._webhook_poll, MAX_BACKOFF_SECONDS)
        while not self._stop.is_set():
            try:
                # A call in flight when the worker stops is abandoned: its lease brings it back.
                called = await self._unless_stopped(deliver(self._webhook_batch))
            except Exception:
                log.exception("calling webhooks failed")
                await self._pause(backoff.next())
                continue
            backoff.reset()
            if not called:  # nothing was due: look again soon (a full batch: at once)
                await self._pause(self._webhook_poll)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _unless_stopped(self, waiting: Awaitable[T]) -> T | None:
        """What `waiting` gives, or None if the loop is stopped first (then it is cancelled)."""
        return await unless(waiting, self._stop.wait())
