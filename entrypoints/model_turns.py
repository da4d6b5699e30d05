"""Turns in the model for a worker's batches: how many are in the classifier at once, in order.

An asyncio.Semaphore would do for the turns alone, but the worker also asks "is a turn free for
whoever comes next?" (it fills the next batch while none is), and waits for the answer to
become yes. A turn handed from one batch straight to another waiting is never free meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator


class ModelTurns:
    """`n` turns, given in the order they were asked for; one event loop."""

    def __init__(self, n: int) -> None:
        self._free = n
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._freed = asyncio.Event()  # set while a turn is free for whoever comes next
        self._freed.set()

    @property
    def free(self) -> bool:
        return self._free > 0

    async def until_free(self) -> None:
        await self._freed.wait()

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        await self._take()
        try:
            yield
        finally:
            self._give()

    async def _take(self) -> None:
        if self._free > 0 and not self._waiting:
            self._taken_one()
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            await waiter  # its giver handed the turn over: it stays taken
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed over, then cancelled: pass it on
                self._give()
            else:  # (a giver may already have passed over it and dropped it)
                with contextlib.suppress(ValueError):
                    self._waiting.remove(waiter)
            raise

    def _give(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1
        self._freed.set()

    def _taken_one(self) -> None:
        self._free -= 1
        if self._free == 0:
            self._freed.clear()
