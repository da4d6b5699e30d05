"""Ports that record metrics as they pass calls on: the container wraps the real adapters in them.

They only observe: every call, answer and exception is the wrapped adapter's own. Each costs a
few microseconds per request (a label lookup and an observation), none of them a round trip.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager

from adapters.prometheus.metrics import Metrics
from inference.domain import InferenceRequest, RequestId, RequestRecord
from inference.errors import InvalidTransition, UnknownRequest
from inference.outcomes import Failure, ModelInfo, Prediction
from inference.ports import (
    Classifier,
    Consumer,
    DeadLetter,
    DeadLetters,
    Delivery,
    ResultStore,
    TerminalWatch,
)
from inference.timings import BatchTimings
from inference.transitions import Fail, Succeed, Transition


class MeteredClassifier(Classifier):
    """Batch sizes, forward passes and preprocessing per image."""

    def __init__(self, inner: Classifier, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    @property
    def model(self) -> ModelInfo:
        return self._inner.model

    def classify(self, batch: Sequence[InferenceRequest]) -> list[Prediction | Failure]:
        return self.classify_timed(batch)[0]

    def classify_timed(
        self, batch: Sequence[InferenceRequest]
    ) -> tuple[list[Prediction | Failure], BatchTimings | None]:
        self._metrics.batch_size.observe(len(batch))
        outcomes, timings = self._inner.classify_timed(batch)
        if timings is not None and batch:
            self._metrics.model.observe(timings.model)
            per_image = timings.preprocess / len(batch)
            for _ in batch:
                self._metrics.preprocess.observe(per_image)
        return outcomes, timings


class MeteredConsumer(Consumer, DeadLetters):
    """Queue waits and redeliveries as a worker takes messages; dead letters as it settles them."""

    def __init__(self, inner: Consumer, dead_letters: DeadLetters, metrics: Metrics) -> None:
        self._inner = inner
        self._dead_letters = dead_letters
        self._metrics = metrics

    async def receive(self, max_count: int, fill_wait: float, idle_wait: float) -> list[Delivery]:
        deliveries = await self._inner.receive(max_count, fill_wait, idle_wait)
        now = time.time()
        for delivery in deliveries:
            # Another host's clock may run ahead of this one's: a wait is never negative.
            self._metrics.queue_wait.observe(max(0.0, now - delivery.request.submitted_at.timestamp()))
            if delivery.attempt > 1:
                self._metrics.redeliveries.inc()
        return deliveries

    async def ack(self, delivery: Delivery) -> None:
        await self._inner.ack(delivery)

    async def ack_all(self, deliveries: Sequence[Delivery]) -> None:
        await self._inner.ack_all(deliveries)

    async def reject(self, delivery: Delivery, requeue: bool) -> None:
        await self._inner.reject(delivery, requeue)

    async def close(self) -> None:
        await self._inner.close()

    async def receive_dead_letters(self, max_count: int, wait: float) -> list[DeadLetter]:
        return await self._dead_letters.receive_dead_letters(max_count, wait)

    async def release_dead_letter(self, letter: DeadLetter, requeue: bool) -> None:
        await self._dead_letters.release_dead_letter(letter, requeue)
        if not requeue:  # a letter given back comes again: counted once, when it is gone
            self._metrics.dead_lettered.labels(letter.failure.code).inc()


class MeteredStore(ResultStore):
    """Terminal outcomes by status and code, and each one's time from submission."""

    def __init__(self, inner: ResultStore, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    async def add(self, record: RequestRecord) -> bool:
        return await self._inner.add(record)

    async def get(self, request_id: RequestId) -> RequestRecord:
        return await self._inner.get(request_id)

    async def transition(
        self, transitions: Sequence[tuple[RequestId, Transition]]
    ) -> list[RequestRecord | InvalidTransition | UnknownRequest]:
        results = await self._inner.transition(transitions)
        for (_, change), result in zip(transitions, results, strict=True):
            # Only the transition that made a record terminal: a redelivery's answer is not one.
            if isinstance(change, Succeed | Fail) and isinstance(result, RequestRecord):
                code = "none" if result.failure is None else result.failure.code
                self._metrics.results.labels(result.status.value, code).inc()
                if result.completed_at is not None:
                    elapsed = (result.completed_at - result.created_at).total_seconds()
                    self._metrics.time_to_result.observe(max(0.0, elapsed))
        return results

    async def wait_for_terminal(self, request_id: RequestId, timeout: float) -> RequestRecord:
        return await self._inner.wait_for_terminal(request_id, timeout)

    def watch_terminal(self, request_id: RequestId) -> AbstractAsyncContextManager[TerminalWatch]:
        return self._inner.watch_terminal(request_id)

    async def wait_for_change(
        self, request_id: RequestId, seen: RequestRecord | None, timeout: float
    ) -> RequestRecord:
        return await self._inner.wait_for_change(request_id, seen, timeout)

    async def delete(self, request_id: RequestId) -> None:
        await self._inner.delete(request_id)

    async def ping(self) -> None:
        await self._inner.ping()
