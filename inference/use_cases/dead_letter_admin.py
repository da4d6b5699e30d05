"""The operator's use cases over parked dead letters (`inference dlq`): list, requeue, purge.

A requeue is the one way a terminal record changes: the record goes back to queued (Requeue)
before its request is published again, so the worker that takes it finds it queued, not failed
(a worker skips a terminal request as a redelivery).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from inference.clock import Clock, utc_now
from inference.domain import RequestId, RequestStatus
from inference.errors import InvalidTransition, UnknownRequest
from inference.ports import DeadLetterAdmin, ParkedLetter, ResultStore
from inference.transitions import Requeue


@dataclass(frozen=True)
class ListedLetter:
    letter: ParkedLetter
    attempts: int | None  # as its record counts them; None when it has no record (any more)
    age: float  # seconds since it was parked


@dataclass(frozen=True)
class RequeueReport:
    requeued: list[RequestId] = field(default_factory=list)
    skipped: dict[RequestId, str] = field(default_factory=dict)  # why each was left parked


class ListDeadLetters:
    def __init__(self, admin: DeadLetterAdmin, store: ResultStore, clock: Clock = utc_now) -> None:
        self._admin, self._store, self._clock = admin, store, clock

    async def __call__(self) -> list[ListedLetter]:
        """Every parked letter, oldest first, with its request's attempts."""
        now, listed = self._clock(), []
        for letter in await self._admin.parked():
            listed.append(ListedLetter(letter, await self._attempts(letter), _age(now, letter.parked_at)))
        return listed

    async def _attempts(self, letter: ParkedLetter) -> int | None:
        if letter.request_id is None:
            return None
        try:
            return (await self._store.get(letter.request_id)).attempts
        except UnknownRequest:
            return None


class RequeueDeadLetters:
    def __init__(self, admin: DeadLetterAdmin, store: ResultStore, clock: Clock = utc_now) -> None:
        self._admin, self._store, self._clock = admin, store, clock

    async def __call__(self, request_ids: Collection[RequestId] | None) -> RequeueReport:
        """Requeue the parked letters of `request_ids` (every one with None).

        A letter whose record is gone (expired) or did not fail (it succeeded after all) stays
        parked, with the reason in the report. A record found queued by an earlier requeue whose
        publish failed is published now.
        """
        parked = [letter.request_id for letter in await self._admin.parked() if letter.request_id]
        wanted = list(dict.fromkeys(parked if request_ids is None else request_ids))
        skipped = {id: "not parked" for id in wanted if id not in parked}
        ready = [id for id in wanted if id not in skipped]
        outcomes = await self._store.transition([(id, Requeue(self._clock())) for id in ready])
        to_publish = []
        for request_id, outcome in zip(ready, outcomes, strict=True):
            if isinstance(outcome, UnknownRequest):
                skipped[request_id] = "its record expired"
            elif isinstance(outcome, InvalidTransition) and not _half_requeued(outcome):
                skipped[request_id] = f"it is {outcome.current.status.value}, not failed"
            else:
                to_publish.append(request_id)
        requeued = await self._admin.requeue(to_publish) if to_publish else []
        return RequeueReport(requeued, skipped)


class PurgeDeadLetters:
    def __init__(self, admin: DeadLetterAdmin) -> None:
        self._admin = admin

    async def __call__(self, older_than: float | None) -> int:
        """Remove the letters parked over `older_than` seconds ago (all with None); how many."""
        return await self._admin.purge(older_than)


def _half_requeued(refused: InvalidTransition) -> bool:
    current = refused.current
    return current.status is RequestStatus.QUEUED and current.requeued > 0


def _age(now: datetime, then: datetime) -> float:
    return max(0.0, (now - then).total_seconds())
