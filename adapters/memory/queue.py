"""A bounded, thread-safe in-memory queue that redelivers what was not acknowledged, as a broker does."""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from adapters.memory.dead_letter_queues import DeadLetterQueues
from adapters.wakeup import WakeUp
from inference.clock import utc_now
from inference.domain import InferenceRequest, RequestId
from inference.errors import AttemptsExhausted, Overloaded, Rejected
from inference.outcomes import Failure
from inference.ports import (
    Consumer,
    DeadLetter,
    DeadLetterAdmin,
    DeadLetters,
    Delivery,
    ParkedLetter,
    Publisher,
    last_attempt,
)


@dataclass
class _Message:
    request: InferenceRequest
    attempts: int = 0


class MemoryQueue(Publisher, Consumer, DeadLetters, DeadLetterAdmin):
    """At most `max_length` messages and `max_bytes` of images (ready + unacknowledged); past
    either bound, publish is refused rather than dropping anything.

    A message rejected on its last attempt (`last_attempt(max_attempts)`) is dead-lettered, as
    a quorum queue's `x-delivery-limit` does. Dead letters are not bounded: each must reach a
    consumer that records the request's failure. Parked letters (settled ones, kept for an
    operator) are bounded by `max_parked` and `max_bytes`, the oldest dropped first. One object plays every
    role of the queue: the embedded mode has one process.
    """

    def __init__(
        self,
        max_length: int,
        max_bytes: int,
        max_attempts: int,
        max_parked: int,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._max_length = max_length
        self._max_bytes = max_bytes
        self._bytes = 0
        self._last_attempt = last_attempt(max_attempts)
        self._lock = threading.Lock()
        self._ready: deque[_Message] = deque()
        self._unacked: dict[str, _Message] = {}
        self._clock = clock
        self._tags = itertools.count(1)
        self._dead_letters = DeadLetterQueues(max_parked, max_bytes, clock, self._tags)
        self._arrivals = WakeUp(self._lock)

    async def publish(self, request: InferenceRequest) -> None:
        with self._lock:
            if len(self._ready) + len(self._unacked) >= self._max_length:
                raise Overloaded(f"the queue holds its maximum of {self._max_length} requests")
            if self._bytes + len(request.image) > self._max_bytes:
                raise Overloaded(f"the queue holds its maximum of {self._max_bytes} bytes of images")
            self._bytes += len(request.image)
            self._ready.append(_Message(request))
            self._arrivals.fire()

    async def receive(self, max_count: int, fill_wait: float, idle_wait: float) -> list[Delivery]:
        deadline = time.monotonic() + idle_wait
        while (remaining := deadline - time.monotonic()) > 0:
            if await self._arrivals.wait_for(lambda: bool(self._ready) or None, remaining) is None:
                break
            await self._arrivals.wait_for(lambda: len(self._ready) >= max_count or None, fill_wait)
            with self._lock:
                taken = min(max_count, len(self._ready))
                if taken:  # else a concurrent consumer took them all: wait on
                    return [self._deliver(self._ready.popleft()) for _ in range(taken)]
        return []

    def _deliver(self, message: _Message) -> Delivery:
        message.attempts += 1
        tag = str(next(self._tags))
        self._unacked[tag] = message
        return Delivery(tag=tag, request=message.request, attempt=message.attempts)

    async def ack(self, delivery: Delivery) -> None:
        with self._lock:
            message = self._unacked.pop(delivery.tag, None)
            if message is not None:
                self._bytes -= len(message.request.image)

    async def ack_all(self, deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:  # in process, one at a time costs nothing more
            await self.ack(delivery)

    async def reject(self, delivery: Delivery, requeue: bool) -> None:
        with self._lock:
            message = self._unacked.pop(delivery.tag, None)
            if message is None:
                return
            if requeue and message.attempts < self._last_attempt:
                self._ready.appendleft(message)
            else:
                self._bytes -= len(message.request.image)
                failure = Failure.of(AttemptsExhausted(message.attempts) if requeue else Rejected())
                letter = DeadLetter(tag="", request_id=message.request.id, failure=failure)
                self._dead_letters.add(letter, message.request)
            self._arrivals.fire()

    async def receive_dead_letters(self, max_count: int, wait: float) -> list[DeadLetter]:
        return await self._arrivals.wait_for(lambda: self._dead_letters.take(max_count), wait) or []

    async def release_dead_letter(self, letter: DeadLetter, requeue: bool) -> None:
        with self._lock:
            if self._dead_letters.release(letter, requeue):
                self._arrivals.fire()

    # --- the operator's side ---

    async def parked(self) -> list[ParkedLetter]:
        with self._lock:
            return [letter for letter, _ in self._dead_letters.parked()]

    async def requeue(self, request_ids: Collection[RequestId]) -> list[RequestId]:
        wanted, requeued = set(request_ids), []
        for letter, request in await self._parked_snapshot():
            if letter.request_id in wanted:
                await self.publish(request)  # Overloaded when full: the rest stay parked
                with self._lock:
                    self._dead_letters.unpark(letter, request)
                requeued.append(request.id)
                wanted.discard(request.id)
        return requeued

    async def purge(self, older_than: float | None) -> int:
        with self._lock:
            return self._dead_letters.purge(older_than)

    async def _parked_snapshot(self) -> list[tuple[ParkedLetter, InferenceRequest]]:
        with self._lock:
            return self._dead_letters.parked()

    async def close(self) -> None:
        with self._lock:
            # Oldest first at the front, so a restarted consumer resumes in order.
            self._ready.extendleft(reversed(list(self._unacked.values())))
            self._unacked.clear()
            self._dead_letters.return_taken()
            self._arrivals.fire()

    async def ping(self) -> None:
        return None

    def dead_letter_count(self) -> int:
        """Dead letters waiting to be settled, and parked ones."""
        with self._lock:
            return len(self._dead_letters)

    def oldest_age(self) -> float:
        """Seconds the oldest waiting request has waited since it was submitted (0 if none)."""
        with self._lock:
            oldest = self._ready[0].request.submitted_at if self._ready else None
        return 0.0 if oldest is None else max(0.0, (self._clock() - oldest).total_seconds())

    def ready_count(self) -> int:
        """Messages waiting to be delivered."""
        with self._lock:
            return len(self._ready)

    def unacked_count(self) -> int:
        """Messages delivered but not yet acknowledged."""
        with self._lock:
            return len(self._unacked)

    @property
    def depth(self) -> int:
        """Messages waiting or delivered but not yet acknowledged."""
        with self._lock:
            return len(self._ready) + len(self._unacked)
