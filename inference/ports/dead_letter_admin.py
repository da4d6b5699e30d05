"""The operator's side of the parked dead letters, apart from the service's own queue roles."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from inference.domain import RequestId
from inference.outcomes import Failure


@dataclass(frozen=True)
class ParkedLetter:
    """A dead letter kept for an operator: why it failed and since when it is parked.

    `request_id` is None for a message that did not even name a request (it can only be purged).
    """

    request_id: RequestId | None
    failure: Failure
    parked_at: datetime


class DeadLetterAdmin(Protocol):
    """The operator's side of the parked dead letters (`inference dlq`)."""

    @abstractmethod
    async def parked(self) -> list[ParkedLetter]:
        """Every parked letter, oldest first. Reading takes nothing away and counts no attempt:
        the same list reads the same twice."""

    @abstractmethod
    async def requeue(self, request_ids: Collection[RequestId]) -> list[RequestId]:
        """Publish the parked letters of `request_ids` again as new requests (image and
        metadata as they were, attempt 1 at their next delivery), each confirmed before its
        letter leaves the parked ones; the ids requeued, oldest first. An id not parked is
        skipped. Raises Overloaded when the queue is full and QueueUnavailable when the broker
        cannot be reached; what was requeued until then stays requeued."""

    @abstractmethod
    async def purge(self, older_than: float | None) -> int:
        """Remove the letters parked more than `older_than` seconds ago (all with None); how
        many were removed."""
