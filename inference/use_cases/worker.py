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
from inference.domain import InferenceRequest, RequestRecord
from inference.errors import (
    AttemptsExhausted,
    InferenceError,
    ModelError,
    StoreUnavailable,
    UnknownRequest,
)
from inference.log_fields import request_fields
from inference.outcomes import Failure, Prediction
from inference.ports import Classifier, Consumer, Delivery, ResultStore
from inference.retry import StoreRetry
from inference.timings import BatchTimings
from inference.transitions import Fail, Start, Succeed
from inference.use_cases.batch_rules import deadline_exceeded, expired, first_of_each_request, timings_of

log = logging.getLogger(__name__)

Outcome = Start | Succeed | Fail


@dataclass(frozen=True)
class BatchReport:
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0  # already finished (a duplicate or redelivery) or expired: acknowledged as it is
    requeued: int = 0  # the store stayed down: back to the queue


@dataclass(frozen=True)
class StartedBatch:
    """A batch past its start: the deliveries the model is to run (their requests marked
    processing), the second copies to acknowledge at the end, and what became of the rest."""

    runnable: list[Delivery]
    duplicates: list[Delivery]
    tally: Counter[str]
    taken_at: datetime


@dataclass(frozen=True)
class ClassifiedBatch:
    outcomes: list[Prediction | Failure]  # one per runnable delivery
    spent: BatchTimings | None
    done_at: datetime


class ProcessBatch:
    """The worker's step: mark processing → classify as one batch → store each outcome → ack.

    Acknowledges a delivery only once its outcome is stored; if the store stays down past
    `store_patience` seconds the delivery goes back to the queue. A delivery of an already
    finished request (canceled included) is acknowledged without running the model, one whose
    attempts ran out (`attempt > max_attempts`) fails instead of looping (and is dead-lettered,
    then parked for an operator), and one whose deadline has passed fails `deadline_exceeded`
    without reaching the model.

    Its three stages (`start`, `classify`, `finish`) can also be called one by one, so that a
    worker starts its next batch and finishes its last while the model runs this one.
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
        started = await self.start(deliveries)
        return await self.finish(started, await self.classify(started))

    async def start(self, deliveries: Sequence[Delivery]) -> StartedBatch:
        """Settle what must not reach the model, and mark the rest processing (one store call)."""
        firsts, duplicates = first_of_each_request(deliveries)
        tally: Counter[str] = Counter()
        now = self._clock()

        def failed(delivery: Delivery, error: InferenceError) -> tuple[Delivery, Fail]:
            return delivery, Fail(Failure.of(error), now, timings_of(delivery, now, now, None))

        exhausted = [d for d in firsts if d.attempt > self._max_attempts]
        ran_out = [failed(d, AttemptsExhausted(d.attempt - 1)) for d in exhausted]
        tally.update(await self._finish(ran_out, dead_letter=True))
        late = [d for d in firsts if d.attempt <= self._max_attempts and expired(d, now)]
        tally.update(await self._finish([failed(d, deadline_exceeded(d)) for d in late]))
        fresh = [d for d in firsts if d.attempt <= self._max_attempts and not expired(d, now)]
        started = await self._apply([(d, Start(now)) for d in fresh])
        runnable = [d for d, state in zip(fresh, started, strict=True) if state == "applied"]
        tally.update(state for state in started if state != "applied")
        return StartedBatch(runnable, duplicates, tally, now)

    async def classify(self, batch: StartedBatch) -> ClassifiedBatch:
        """`classify_now` on a thread (the loop stays free); a batch of redeliveries alone has
        nothing to run: no thread hop for it."""
        if not batch.runnable:
            return self.classify_now(batch)
        return await asyncio.to_thread(self.classify_now, batch)

    def classify_now(self, batch: StartedBatch) -> ClassifiedBatch:
        """The model's outcomes for the runnable deliveries, on the calling thread. A deadline can
        pass while a started batch waits for the model: that request fails `deadline_exceeded`
        here, without reaching it."""
        now = self._clock()
        due = [not expired(d, now) for d in batch.runnable]
        requests = [d.request for d, run in zip(batch.runnable, due, strict=True) if run]
        ran, spent = self._classify(requests) if requests else ([], None)
        outcomes, from_model = [], iter(ran)
        for delivery, run in zip(batch.runnable, due, strict=True):
            outcomes.append(next(from_model) if run else Failure.of(deadline_exceeded(delivery)))
        return ClassifiedBatch(outcomes, spent, self._clock())

    async def finish(self, batch: StartedBatch, classified: ClassifiedBatch) -> BatchReport:
        """Store each outcome, then acknowledge it, and the second copies after their first."""
        now = classified.done_at
        finished: list[tuple[Delivery, Succeed | Fail]] = []
        for d, outcome in zip(batch.runnable, classified.outcomes, strict=True):
            timings = timings_of(d, batch.taken_at, now, classified.spent)
            finished.append(
                (
                    d,
                    Succeed(outcome, now, timings)
                    if isinstance(outcome, Prediction)
                    else Fail(outcome, now, timings),
                )
            )
        tally = Counter(batch.tally)
        tally.update(await self._finish(finished))
        # A second copy of a request in this batch (a duplicate publish): its first copy is now
        # stored and acknowledged, or back in the queue, so this one has nothing left to do.
        await self._ack_all(batch.duplicates)
        tally["skipped"] += len(batch.duplicates)
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
