"""The worker's retry policy for the store: wait out a short outage instead of losing work."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from inference.backoff import Backoff
from inference.errors import StoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")


class StoreRetry:
    """Retry a store call while the store is unavailable, for up to `patience` seconds.

    Waiting out a short outage keeps a computed result instead of throwing it away, and keeps
    the queue's attempts (which fail requests at their limit) for real crashes.
    """

    def __init__(self, patience: float, first_delay: float = 0.05, max_delay: float = 2.0) -> None:
        self._patience = patience
        self._first_delay = first_delay
        self._max_delay = max_delay

    async def __call__(self, call: Callable[[], Awaitable[T]]) -> T:
        deadline = time.monotonic() + self._patience
        backoff = Backoff(self._first_delay, self._max_delay)
        while True:
            try:
                return await call()
            except StoreUnavailable:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise
                log.warning("the store is unavailable; retrying for %.0f s more", remaining)
                await asyncio.sleep(min(backoff.next(), remaining))
