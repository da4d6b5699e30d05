"""A worker's batches as a pipeline: while one batch is in the model, the next is received and
started, and the last one's outcomes are stored and acknowledged.

One batch after another, the model waited between two batches for the last one's store round
trip and acknowledgement, then the next one's receive and start round trip: with the service
beside it on two cores (EfficientNet-B0 at 224 px, batches of 4), 3.8 ms between batches of
44 ms, 9 % of the model's time. Now the next batch is started, and queued for the model's own
thread (`ModelThreads`), by the time the model frees: the thread takes it at once.

Batches fill as before: the next takes what has arrived and, for as long as no model thread is
free (waiting then costs it nothing), what arrives, up to the batch size. The delivery rule is
the use case's (`ProcessBatch`): one task starts, runs and finishes each batch in that order,
and a delivery is acknowledged only once its outcome is stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

from entrypoints.batch_context import batch_context
from entrypoints.model_threads import ModelThreads
from entrypoints.unless import unless
from inference.backoff import Backoff
from inference.ports import Consumer, Delivery
from inference.use_cases.worker import BatchReport, ProcessBatch

# The worker's lines keep the logger name operators filter on, whichever module writes them.
log = logging.getLogger("entrypoints.worker")

T = TypeVar("T")

# A worker whose store or broker is down retries at least this often.
MAX_BACKOFF_SECONDS = 30.0


class BatchPipeline:
    """Runs once, until `stop` is set; then the batches in hand (the one in the model, the one
    started after it) are finished and acknowledged, and the rest stays queued.

    `in_model` batches are in the classifier at once (2: one decodes while the other is in the
    model), on as many threads of its own, and one more is started, queued for them.
    `done(size, report)` is called as each batch ends (report None: it raised, and was handed
    back to the queue).
    """

    def __init__(
        self,
        consumer: Consumer,
        step: ProcessBatch,
        stop: asyncio.Event,
        done: Callable[[int, BatchReport | None], None],
        *,
        max_batch_size: int,
        fill_wait: float,
        idle_wait: float,
        in_model: int,
    ) -> None:
        self._consumer, self._step, self._stop, self._done = consumer, step, stop, done
        self._max_batch_size, self._fill_wait, self._idle_wait = max_batch_size, fill_wait, idle_wait
        self._model = ModelThreads(in_model)
        self._ahead = asyncio.Semaphore(in_model + 1)  # batches received and not out of the model
        self._backoff = Backoff(idle_wait, MAX_BACKOFF_SECONDS)
        self._troubled = False  # a batch went back to the queue: the store or the broker is down

    async def run(self) -> None:
        batches: set[asyncio.Task[None]] = set()
        try:
            while not self._stop.is_set():
                if not self._ahead.locked():
                    await self._ahead.acquire()  # (no wait: no tasks to race it against the stop)
                elif await self._unless_stopped(self._ahead.acquire()) is None:
                    break
                if self._troubled:  # do not spin on a store or broker that is down
                    self._troubled = False
                    await self._pause(self._backoff.next())
                deliveries = await self._fill()
                if not deliveries:
                    self._ahead.release()
                    continue
                batch = asyncio.create_task(self._run_batch(deliveries))
                batches.add(batch)
                batch.add_done_callback(batches.discard)
        except BaseException:
            # Cancelled (a stop that ran out of time): the batches are abandoned with it, and the
            # broker redelivers what they held.
            for batch in batches:
                batch.cancel()
            raise
        finally:
            try:
                if batches:  # stopped: the batches in hand finish, each by its own task
                    await asyncio.wait(batches)
            finally:
                self._model.close()

    async def _fill(self) -> list[Delivery]:
        deliveries = await self._receive(self._max_batch_size, self._fill_wait) or []
        # While no model thread is free, waiting for more costs this batch nothing.
        while deliveries and len(deliveries) < self._max_batch_size and not self._model.free:
            more = await self._receive(
                self._max_batch_size - len(deliveries), 0, also_until=self._model.until_free()
            )
            if more is None:
                break
            deliveries += more
        return deliveries

    async def _run_batch(self, deliveries: list[Delivery]) -> None:
        report = None
        with batch_context(deliveries) as batch:
            try:
                try:
                    started = await self._step.start(deliveries)
                    if started.runnable:
                        classified = await self._model.run(partial(self._step.classify_now, started))
                    else:  # (nothing for the model: no wait behind the batch in it)
                        classified = self._step.classify_now(started)
                finally:
                    self._ahead.release()  # out of the model, or never to reach it: the next may come
                batch.report = report = await self._step.finish(started, classified)
            except Exception:
                # Whatever broke, the batch must not be lost: hand it back and keep serving.
                log.exception("batch of %d failed; requeueing it", len(deliveries))
                for delivery in deliveries:
                    try:
                        await self._consumer.reject(delivery, requeue=True)
                    except Exception:
                        log.exception("could not requeue %s (the broker redelivers it)", delivery.request.id)
        if report is None or report.requeued:
            self._troubled = True
        else:
            self._backoff.reset()
        self._done(len(deliveries), report)

    async def _receive(
        self, count: int, fill_wait: float, also_until: Awaitable[None] | None = None
    ) -> list[Delivery] | None:
        """Up to `count` deliveries; [] if none came within the idle wait, None if the pipeline
        stopped (or `also_until` came) first."""
        receiving = self._consumer.receive(count, fill_wait, self._idle_wait)
        try:
            return await self._unless_stopped(receiving, also_until)
        except Exception:
            log.exception("receiving failed")
            await self._pause(self._idle_wait)
            return []

    async def _pause(self, seconds: float) -> None:
        await self._unless_stopped(asyncio.sleep(seconds))

    async def _unless_stopped(
        self, waiting: Awaitable[T], also_until: Awaitable[None] | None = None
    ) -> T | None:
        """What `waiting` gives, or None if the pipeline stops (or `also_until` comes) first."""
        return await unless(waiting, self._stop.wait(), *([also_until] if also_until is not None else []))
