"""The rules a worker's batch applies to each delivery before and after the model."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from inference.domain import RequestId
from inference.errors import DeadlineExceeded
from inference.ports import Delivery
from inference.timings import BatchTimings, Timings


def timings_of(
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


def expired(delivery: Delivery, now: datetime) -> bool:
    deadline_at = delivery.request.deadline_at
    return deadline_at is not None and deadline_at <= now


def deadline_exceeded(delivery: Delivery) -> DeadlineExceeded:
    return DeadlineExceeded(f"the deadline ({delivery.request.deadline_at}) passed before a worker ran it")


def first_of_each_request(deliveries: Sequence[Delivery]) -> tuple[list[Delivery], list[Delivery]]:
    seen: set[RequestId] = set()
    firsts: list[Delivery] = []
    duplicates: list[Delivery] = []
    for delivery in deliveries:
        (duplicates if delivery.request.id in seen else firsts).append(delivery)
        seen.add(delivery.request.id)
    return firsts, duplicates
