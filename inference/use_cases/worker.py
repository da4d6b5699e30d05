"""The worker's main use case: process a batch of deliveries (dead letters: `dead_letters`).

It keeps the delivery rule: a message is acknowledged only once its outcome is stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from inference.clock import Clock, utc_now
from inference.domain import InferenceRequest, RequestId, RequestRecord
from inference.errors import (
    AttemptsExhausted,
    DeadlineExceeded,
    ModelError,
    StoreUnavailable,
    UnknownRequest,
)
from inference.log_fields import request_fields
from inference.outcomes import Failure, Prediction
from inference.ports import Classifier, Consumer, Delivery, ResultStore
from inference.retry import StoreRetry
from inference.timings import BatchTimings, Timings
from inference.transitions import Fail, Start, Succeed

log = logging.getLogger(__name__)

Outcome = Start | Succeed | Fail


@dataclass(frozen=True)
class BatchReport:
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0  # already finished (a duplicate or redelivery) or expired: acknowledged as it is
    requeued: int = 0  # the store stayed down: back to the queue


class ProcessBatch:
    """The worker's step: mark processing → classify as one batch → store each outcome → ack.

    Acknowledges a delivery only once its outcome is stored; if the store stays down past
    `store_patience` seconds the delivery goes back to the queue. A delivery of an already
    finished request (canceled included) is acknowledged without running the model, one whose
    attempts ran out (`attempt > max_attempts`) fails instead of looping (and is dead-lettered,
    then parked for an operator), and one whose deadline has passed fails `deadline_exceeded`
    without reaching the model.
    """

    def __init__(
        self,
        consumer: Consumer,
        store: ResultStore,
        classifier: Classifier,
        max_attempts: int,
        store_patience: float,
        clock: Clock = utc_now,
    ) -> None:
        self._consumer = consumer
        self._store = store
        self._classifier = classifier
        self._max_attempts = max_attempts
        self._clock = clock
        self._retry = StoreRetry(store_patience)

    async def __call__(self, deliveries: Sequence[Delivery]) -> BatchReport:
        # The store takes each stage of the batch in one call: start all, then finish all.
        firsts, duplicates = _first_of_each_request(deliveries)
        tally: Counter[str] = Counter()
        now = self._clock()
        exhausted = [d for d in firsts if d.attempt > self._max_attempts]
        tally.update(
            await self._finish(
                [
                    (d, Fail(Failure.of(AttemptsExhausted(d.attempt - 1)), now, _timings(d, now, now, None)))
                    for d in exhausted
                ],
                dead_letter=True,
            )
        )
        late = [d for d in firsts if d.attempt <= self._max_attempts and _expired(d, now)]
        tally.update(
            await self._finish(
                [(d, Fail(Failure.of(_deadline_exceeded(d)), now, _timings(d, now, now, None))) for d in late]
            )
        )
        fresh = [d for d in firsts if d.attempt <= self._max_attempts and not _expired(d, now)]
        taken_at = now
        started = await self._apply([(d, Start(now)) for d in fresh])
        runnable = [d for d, state in zip(fresh, started, strict=True) if state == "applied"]
        tally.update(state for state in started if state != "applied")
        # (A batch of redeliveries alone has nothing to run: no thread hop for it.)
        outcomes, spent = (
            await asyncio.to_thread(self._classify, [d.request for d in runnable]) if runnable else ([], None)
        )
        now = self._clock()
        finished: list[tuple[Delivery, Succeed | Fail]] = []
        for d, outcome in zip(runnable, outcomes, strict=True):
            timings = _timings(d, taken_at, now, spent)
            finished.append(
                (
                    d,
                    Succeed(outcome, now, timings)
                    if isinstance(outcome, Prediction)
                    else Fail(outcome, now, timings),
                )
            )
        tally.update(await self._finish(finished))
        # A second copy of a request in this batch (a duplicate publish): its first copy is now
        # stored and acknowledged, or back in the queue, so this one has nothing left to do.
        await self._ack_all(duplicates)
        tally["skipped"] += len(duplicates)
        return BatchReport(tally["succeeded"], tally["failed"], tally["skipped"], tally["requeued"])

    async def _finish(
        self, pairs: Sequence[tuple[Delivery, Succeed | Fail]], dead_letter: bool = False
    ) -> list[str]:
        """Store the outcomes, then acknowledge: never the other way round. With `dead_letter`
        (poison: its attempts ran out) the message is rejected instead, so that it is parked
        for an operator to inspect and requeue (`inference dlq`) rather than gone."""
        states = await self._apply(pairs)
        stored = [d for (d, _), state in zip(pairs, states, strict=True) if state == "applied"]
        if dead_letter:
            await asyncio.gather(*(self._consumer.reject(d, requeue=False) for d in stored))
        else:
            await self._ack_all(stored)
        return [
            ("succeeded" if isinstance(outcome, Succeed) else "failed") if state == "applied" else state
            for (_, outcome), state in zip(pairs, states, strict=True)
        ]

    async def _apply(self, pairs: Sequence[tuple[Delivery, Outcome]]) -> list[str]:
        """Per pair "applied"; or "skipped" (acknowledged: nothing to do) or "requeued" (store down)."""
        if not pairs:
            return []
        transitions = [(delivery.request.id, transition) for delivery, transition in pairs]
        try:
            results = await self._retry(lambda: self._store.transition(transitions))
        except StoreUnavailable:
            await asyncio.gather(*(self._consumer.reject(d, requeue=True) for d, _ in pairs))
            return ["requeued"] * len(pairs)
        skipped = []
        for (delivery, _), result in zip(pairs, results, strict=True):
            if isinstance(result, UnknownRequest):
                log.warning(
                    "request %s has no record (expired?); dropping it",
                    delivery.request.id,
                    extra=request_fields(delivery.request),
                )
            if not isinstance(result, RequestRecord):  # else finished already: a redelivery
                skipped.append(delivery)
        await self._ack_all(skipped)
        return ["applied" if isinstance(result, RequestRecord) else "skipped" for result in results]

    async def _ack_all(self, deliveries: Sequence[Delivery]) -> None:
        if deliveries:  # (one call for the batch: one wait, not a task and a wait per delivery)
            await self._consumer.ack_all(deliveries)

    def _classify(
        self, batch: list[InferenceRequest]
    ) -> tuple[list[Prediction | Failure], BatchTimings | None]:
        try:
            return self._classifier.classify_timed(batch)
        except Exception:
            # One request that crashes the model must not fail its batch-mates: retry alone.
            log.exception("batch of %d failed; classifying one by one", len(batch))
            return [self._classify_alone(request) for request in batch], None

    def _classify_alone(self, request: InferenceRequest) -> Prediction | Failure:
        try:
            return self._classifier.classify([request])[0]
        except Exception as exc:
            log.exception("request %s makes the model fail", request.id, extra=request_fields(request))
            return Failure.of(ModelError(f"the model failed on this image: {type(exc).__name__}"))


def _timings(
    delivery: Delivery, taken_at: datetime, done_at: datetime, spent: BatchTimings | None
) -> Timings:
    # Another host's clock may run ahead of this one's: a wait is never negative.
    submitted_at = delivery.request.submitted_at
    return Timings(
        queue_wait=max(0.0, (taken_at - submitted_at).total_seconds()),
        preprocess=spent.preprocess if spent else None,
        model=spent.model if spent else None,
        total=max(0.0, (done_at - submitted_at).total_seconds()),
    )


def _expired(delivery: Delivery, now: datetime) -> bool:
    deadline_at = delivery.request.deadline_at
    return deadline_at is not None and deadline_at <= now


def _deadline_exceeded(delivery: Delivery) -> DeadlineExceeded:
    return DeadlineExceeded(f"the deadline ({delivery.request.deadline_at}) passed before a worker ran it")


def _first_of_each_request(deliveries: Sequence[Delivery]) -> tuple[list[Delivery], list[Delivery]]:
    seen: set[RequestId] = set()
    firsts: list[Delivery] = []
    duplicates: list[Delivery] = []
    for delivery in deliveries:
        (duplicates if delivery.request.id in seen else firsts).append(delivery)
        seen.add(delivery.request.id)
    return firsts, duplicates
