"""The deliveries that the consumer channel has handed to the loop and no coroutine has taken yet."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable

from inference.ports import Delivery


class Arrivals:
    """Bound to `loop`: coroutines take deliveries in order, waiting for them to arrive."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._inbox: deque[Delivery] = deque()
        self._waiters: list[asyncio.Future[None]] = []

    def put(self, delivery: Delivery) -> None:
        self._inbox.append(delivery)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            resolve(waiter)

    def clear(self) -> None:
        """Drop them all: their channel is gone, and the broker requeues them."""
        self._inbox.clear()

    async def take(self, max_count: int, fill_wait: float, idle_wait: float) -> list[Delivery]:
        """As `Consumer.receive`."""
        deadline = self._loop.time() + idle_wait
        while (remaining := deadline - self._loop.time()) > 0:
            if not await self._until(lambda: bool(self._inbox), remaining):
                break
            await self._until(lambda: len(self._inbox) >= max_count, fill_wait)
            taken = [self._inbox.popleft() for _ in range(min(max_count, len(self._inbox)))]
            if taken:  # else the connection dropped them: wait on
                return taken
        return []

    async def _until(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Whether `condition()` holds within `timeout` s, checked again on each arrival."""
        deadline = self._loop.time() + timeout
        while not condition():
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                return False
            # A bare future and a timer: asyncio.wait_for (Python 3.11) would make a task per wait.
            waiter = self._loop.create_future()
            self._waiters.append(waiter)
            timer = self._loop.call_later(remaining, resolve, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                with contextlib.suppress(ValueError):  # woken: already gone from the list
                    self._waiters.remove(waiter)
        return True


def resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
