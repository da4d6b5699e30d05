"""A long-poll's ear on its request's channel, fed by the loop's one subscription (`connections`)."""

from __future__ import annotations

import asyncio


class Listener:
    """One waiter's ear on its channel: what was said there since it last asked (each message's
    payload). Registered until forgotten: nothing said between two asks is missed."""

    def __init__(self) -> None:
        self._said: list[str] = []
        self._waiter: asyncio.Future[None] | None = None

    def hear(self, payload: str) -> None:
        self._said.append(payload)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def next(self, timeout: float) -> list[str]:
        """The payloads heard since the last call, waiting up to `timeout` for a first; [] if none."""
        if not self._said:
            # A bare future and a timer: asyncio.wait_for (Python 3.11) would wrap the wait in a
            # task of its own, on every long-poll.
            loop = asyncio.get_running_loop()
            self._waiter = waiter = loop.create_future()
            timer = loop.call_later(timeout, _time_up, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        said, self._said = self._said, []
        return said


def _time_up(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
