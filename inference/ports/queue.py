"""The queue, as narrow ports by role: the API publishes, a worker consumes, the dead-letter
loop settles what the queue gave up on."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from inference.domain import InferenceRequest, RequestId
from inference.outcomes import Failure


def last_attempt(max_attempts: int) -> int:
    """The most deliveries a queue makes of one message: one more than a worker's attempts.

    A worker that receives a request's attempt `max_attempts + 1` records its failure
    (AttemptsExhausted) instead of running it again; a message rejected or abandoned even then
    (a worker that crashes on it every time) is dead-lettered by the queue.
    """
    return max_attempts + 1


@dataclass(frozen=True)
class Delivery:
    """A request handed to a consumer, to be acknowledged or rejected exactly once.

    `attempt` counts deliveries of this message, 1 for the first. A broker that prefetches
    also counts a delivery to a consumer that closed before handing it out, so attempts may run
    ahead of what `receive` returned, never behind.
    """

    tag: str
    request: InferenceRequest
    attempt: int


@dataclass(frozen=True)
class DeadLetter:
    """A message the queue gave up on: attempted too often, or not a request it could read.

    `request_id` is None when the message does not even name a request. `failure` says why,
    in the words the request's client will read.
    """

    tag: str
    request_id: RequestId | None
    failure: Failure


class Publisher(Protocol):
    """The API's side of the queue."""

    @abstractmethod
    async def publish(self, request: InferenceRequest) -> None:
        """Return only once the request is safely enqueued (persisted and confirmed).

        Raises Overloaded when the queue is at its bound, QueueUnavailable when the broker
        cannot be reached or does not confirm in time. Never drops other messages to make room.
        """

    @abstractmethod
    async def ping(self) -> None:
        """Return if the queue can take work now, else raise QueueUnavailable."""


class Consumer(Protocol):
    """The worker's side of the queue."""

    @abstractmethod
    async def receive(self, max_count: int, fill_wait: float, idle_wait: float) -> list[Delivery]:
        """Up to `max_count` deliveries, oldest first.

        Waits up to `idle_wait` seconds for a first delivery (returning [] if none comes), then
        up to `fill_wait` seconds more for the batch to fill. Each delivery stays invisible to
        other consumers until it is acknowledged or rejected. A message is delivered at most
        `last_attempt(max_attempts)` times; one that cannot be read as a request is never
        delivered (it is dead-lettered).
        """

    @abstractmethod
    async def ack(self, delivery: Delivery) -> None:
        """Remove the delivery from the queue for good."""

    @abstractmethod
    async def ack_all(self, deliveries: Sequence[Delivery]) -> None:
        """`ack` each of `deliveries`, as one step where the queue can (a worker acknowledges
        its batch at once): it returns once every one is acknowledged, and acknowledges
        nothing else (not a delivery received before them and still in hand)."""

    @abstractmethod
    async def reject(self, delivery: Delivery, requeue: bool) -> None:
        """Give the delivery back: delivered again (attempt + 1) if `requeue` and attempts
        remain, else dead-lettered."""

    @abstractmethod
    async def close(self) -> None:
        """Stop consuming: every delivery not yet acknowledged will come again."""


class DeadLetters(Protocol):
    """The dead-letter loop's side of the queue."""

    @abstractmethod
    async def receive_dead_letters(self, max_count: int, wait: float) -> list[DeadLetter]:
        """Up to `max_count` dead letters, waiting up to `wait` seconds for a first one.

        A message is dead-lettered when it is rejected without requeue, rejected or abandoned
        on its last attempt, or cannot be read as a request. Each stays invisible to others
        until released.
        """

    @abstractmethod
    async def release_dead_letter(self, letter: DeadLetter, requeue: bool) -> None:
        """Park the dead letter (it stays for `DeadLetterAdmin` to list, requeue or purge, and
        is never received here again), or (`requeue`) give it back to be received again.

        Parking keeps the message's image and metadata and completes (confirmed) before the
        letter leaves the dead-letter queue. The parked letters are bounded: past the bound the
        oldest goes, its request's failure being stored already.
        """
