"""A bounded, thread-safe in-memory queue that redelivers what was not acknowledged, as a broker does."""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass

from adapters.memory.wakeup import WakeUp
from inference.domain import InferenceRequest
from inference.errors import Overloaded
from inference.ports import Delivery, Queue


@dataclass
class _Message:
    request: InferenceRequest
    deliveries: int = 0


class MemoryQueue(Queue):
    """At most `max_length` messages and `max_bytes` of images (ready + unacknowledged); past
    either bound, publish is refused rather than dropping anything.

    A message delivered `delivery_limit` times and rejected again is dead-lettered, like a
    quorum queue's `x-delivery-limit`.
    """

    def __init__(self, max_length: int = 10_000, delivery_limit: int = 5, max_bytes: int = 1 << 30) -> None:
        self._max_length = max_length
        self._max_bytes = max_bytes
        self._bytes = 0
        self._delivery_limit = delivery_limit
        self._lock = threading.Lock()
        self._ready: deque[_Message] = deque()
        self._unacked: dict[str, _Message] = {}
        self._dead: deque[InferenceRequest] = deque(maxlen=100)  # a sample for inspection, not a store
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
        message.deliveries += 1
        tag = str(next(self._tags))
        self._unacked[tag] = message
        return Delivery(tag=tag, request=message.request, attempt=message.deliveries)

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
            if requeue and message.deliveries < self._delivery_limit:
                self._ready.appendleft(message)
                self._arrivals.fire()
            else:
                self._bytes -= len(message.request.image)
                self._dead.append(message.request)

    async def close(self) -> None:
        with self._lock:
            # Oldest first at the front, so a restarted consumer resumes in order.
            self._ready.extendleft(reversed(list(self._unacked.values())))
            self._unacked.clear()
            self._arrivals.fire()

    async def ping(self) -> None:
        return None

    @property
    def depth(self) -> int:
        """Messages waiting or delivered but not yet acknowledged."""
        with self._lock:
            return len(self._ready) + len(self._unacked)

    def dead_letters(self) -> list[InferenceRequest]:
        with self._lock:
            return list(self._dead)
