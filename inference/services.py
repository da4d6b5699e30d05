"""Use cases: submit a request, read its result, and process a batch (the worker's step).

They speak only in domain types and ports; HTTP and AMQP live in the entry points and adapters.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from inference.domain import (
    Fail,
    Failure,
    InferenceRequest,
    Prediction,
    RequestId,
    RequestRecord,
    Start,
    Succeed,
    Transition,
)
from inference.errors import InvalidTransition, StoreUnavailable, UnknownRequest
from inference.media import sniff_media_type
from inference.ports import Classifier, Delivery, Queue, ResultStore

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class SubmitRequest:
    """Accept an image: record it as queued, then enqueue it, so no worker finds it unknown."""

    def __init__(self, queue: Queue, store: ResultStore, clock: Clock = utc_now) -> None:
        self._queue = queue
        self._store = store
        self._clock = clock

    async def __call__(self, image: bytes, top_k: int) -> RequestRecord:
        request = InferenceRequest(
            id=RequestId.new(),
            image=image,
            media_type=sniff_media_type(image),
            top_k=top_k,
            submitted_at=self._clock(),
        )
        record = RequestRecord.queued(request)
        await self._store.add(record)
        try:
            await self._queue.publish(request)
        except BaseException:
            # The client is told to retry: a "queued" record that no message backs would never
            # finish, so take it back (if the store is down too, its time-to-live clears it).
            try:
                await self._store.delete(request.id)
            except StoreUnavailable:
                log.warning("could not delete unpublished request %s", request.id)
            raise
        return record


class GetResult:
    """A request's record, optionally waiting (long-poll) for it to become terminal."""

    def __init__(self, store: ResultStore) -> None:
        self._store = store

    async def __call__(self, request_id: RequestId, wait: float = 0.0) -> RequestRecord:
        if wait > 0:
            return await self._store.wait_for_terminal(request_id, wait)
        return await self._store.get(request_id)


@dataclass(frozen=True)
class BatchReport:
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0  # already finished (a duplicate or redelivery) or expired
    requeued: int = 0  # the store was down: back to the queue


class ProcessBatch:
    """The worker's step: mark processing → classify as one batch → store each outcome → ack.

    Acknowledges a delivery only once its outcome is stored; if the store is down the delivery
    goes back to the queue. A delivery of an already finished request is acknowledged without
    running the model, and one seen more than `max_attempts` times fails instead of looping.
    """

    def __init__(
        self,
        queue: Queue,
        store: ResultStore,
        classifier: Classifier,
        max_attempts: int = 3,
        clock: Clock = utc_now,
    ) -> None:
        self._queue = queue
        self._store = store
        self._classifier = classifier
        self._max_attempts = max_attempts
        self._clock = clock

    async def __call__(self, deliveries: Sequence[Delivery]) -> BatchReport:
        tally: Counter[str] = Counter()
        runnable: list[Delivery] = []
        for delivery in deliveries:
            if delivery.attempt > self._max_attempts:
                failure = Failure(
                    "delivery_limit_exceeded",
                    f"processing was attempted {delivery.attempt - 1} times without finishing",
                )
                tally[await self._finish(delivery, Fail(failure, self._clock()))] += 1
            elif (state := await self._apply(delivery, Start(self._clock()))) == "applied":
                runnable.append(delivery)
            else:
                tally[state] += 1
        outcomes = await asyncio.to_thread(self._classify, [d.request for d in runnable])
        for delivery, outcome in zip(runnable, outcomes, strict=True):
            now = self._clock()
            transition = Succeed(outcome, now) if isinstance(outcome, Prediction) else Fail(outcome, now)
            tally[await self._finish(delivery, transition)] += 1
        return BatchReport(tally["succeeded"], tally["failed"], tally["settled"], tally["requeued"])

    async def _finish(self, delivery: Delivery, transition: Succeed | Fail) -> str:
        """Store the outcome, then acknowledge: never the other way round."""
        state = await self._apply(delivery, transition)
        if state != "applied":
            return state
        await self._queue.ack(delivery)
        return "succeeded" if isinstance(transition, Succeed) else "failed"

    async def _apply(self, delivery: Delivery, transition: Transition) -> str:
        """ "applied"; or "settled" (acknowledged: nothing to do) or "requeued" (store down)."""
        try:
            await self._store.transition(delivery.request.id, transition)
        except InvalidTransition:
            await self._queue.ack(delivery)  # finished already: a duplicate or a redelivery
            return "settled"
        except UnknownRequest:
            log.warning("request %s has no record (expired?); dropping it", delivery.request.id)
            await self._queue.ack(delivery)
            return "settled"
        except StoreUnavailable:
            await self._queue.reject(delivery, requeue=True)
            return "requeued"
        return "applied"

    def _classify(self, batch: list[InferenceRequest]) -> list[Prediction | Failure]:
        if not batch:
            return []
        try:
            return self._classifier.classify(batch)
        except Exception:
            # One request that crashes the model must not fail its batch-mates: retry alone.
            log.exception("batch of %d failed; classifying one by one", len(batch))
            return [self._classify_alone(request) for request in batch]

    def _classify_alone(self, request: InferenceRequest) -> Prediction | Failure:
        try:
            return self._classifier.classify([request])[0]
        except Exception as exc:
            log.exception("request %s makes the model fail", request.id)
            return Failure("model_error", f"the model failed on this image: {type(exc).__name__}")
