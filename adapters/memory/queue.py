"""A bounded, thread-safe in-memory queue that redelivers what was not acknowledged, as a broker does."""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass, replace

from adapters.wakeup import WakeUp
from inference.domain import Failure, InferenceRequest
from inference.errors import AttemptsExhausted, Overloaded, Rejected
from inference.ports import Consumer, DeadLetter, DeadLetters, Delivery, Publisher, last_attempt


@dataclass
class _Message:
    request: InferenceRequest
    attempts: int = 0


class MemoryQueue(Publisher, Consumer, DeadLetters):
    """At most `max_length` messages and `max_bytes` of images (ready + unacknowledged); past
    either bound, publish is refused rather than dropping anything.

    A message rejected on its last attempt (`last_attempt(max_attempts)`) is dead-lettered, as
    a quorum queue's `x-delivery-limit` does. Dead letters keep only the request's id, not its
    image, so they are not bounded: each must reach a consumer that records the request's
    failure. One object plays every role of the queue: the embedded mode has one process.
    """

    def __init__(self, max_length: int, max_bytes: int, max_attempts: int) -> None:
        self._max_length = max_length
        self._max_bytes = max_bytes
        self._bytes = 0
        self._last_attempt = last_attempt(max_attempts)
        self._lock = threading.Lock()
        self._ready: deque[_Message] = deque()
        self._unacked: dict[str, _Message] = {}
        self._dead: deque[DeadLetter] = deque()
        self._dead_unacked: dict[str, DeadLetter] = {}
        self._tags = itertools.count(1)
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
                self._dead.append(DeadLetter(tag="", request_id=message.request.id, failure=failure))
            self._arrivals.fire()

    async def receive_dead_letters(self, max_count: int, wait: float) -> list[DeadLetter]:
        def take() -> list[DeadLetter] | None:
            if not self._dead:
                return None
            letters = []
            for _ in range(min(max_count, len(self._dead))):
                letter = replace(self._dead.popleft(), tag=str(next(self._tags)))
                self._dead_unacked[letter.tag] = letter
                letters.append(letter)
            return letters

        return await self._arrivals.wait_for(take, wait) or []

    async def release_dead_letter(self, letter: DeadLetter, requeue: bool) -> None:
        with self._lock:
            taken = self._dead_unacked.pop(letter.tag, None)
            if taken is not None and requeue:
                self._dead.append(taken)
                self._arrivals.fire()

    async def close(self) -> None:
        with self._lock:
            # Oldest first at the front, so a restarted consumer resumes in order.
            self._ready.extendleft(reversed(list(self._unacked.values())))
            self._unacked.clear()
            self._dead.extendleft(reversed(list(self._dead_unacked.values())))
            self._dead_unacked.clear()
            self._arrivals.fire()

    async def ping(self) -> None:
        return None

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
