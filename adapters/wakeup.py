"""Waiting for a condition that another thread, or another event loop, may make true.

The embedded mode runs the API and the worker on one loop, but tests drive the adapters from
several threads and loops at once, so asyncio primitives (bound to one loop) will not do.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WakeUp:
    """Coroutines wait on it for `check()` to give a value; `fire()` re-checks them all."""

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock  # the lock that guards whatever `check` reads
        self._armed: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def fire(self) -> None:
        """Wake every waiter; call while holding the lock."""
        for loop, future in self._armed:
            # RuntimeError: that loop has closed, so nobody is waiting there any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, future)
        self._armed.clear()

    async def wait_for(self, check: Callable[[], T | None], timeout: float) -> T | None:
        """The first non-None `check()` (called under the lock), or None after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = check()
                remaining = deadline - time.monotonic()
                if found is not None or remaining <= 0:
                    return found
                future = asyncio.get_running_loop().create_future()
                self._armed.append((asyncio.get_running_loop(), future))
            try:
                await asyncio.wait_for(future, remaining)
            except TimeoutError:
                pass
            finally:
                with self._lock:
                    self._armed = [(lp, fut) for lp, fut in self._armed if fut is not future]


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
