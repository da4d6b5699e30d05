"""Waiting for a condition that another thread, or another event loop, may make true.

The embedded mode runs the API and the worker on one loop, but tests drive the adapters from
several threads and loops at once, so asyncio primitives (bound to one loop) will not do.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Hashable
from typing import TypeVar

T = TypeVar("T")


class WakeUp:
    """Coroutines wait on it for `check()` to give a value; `fire()` re-checks them.

    A waiter may name what it waits about (`key`, a request's id, say): `fire(key)` then wakes
    only that key's waiters (and those who named none), so a thousand long-polls are not all
    re-checked on every write. `fire()` wakes everyone.
    """

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock  # the lock that guards whatever `check` reads
        self._armed: dict[Hashable, set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]] = {}

    def fire(self, key: Hashable | None = None) -> None:
        """Wake the waiters on `key` and those who named no key (all of them if `key` is None);
        call while holding the lock."""
        if key is None:
            woken = [waiter for waiters in self._armed.values() for waiter in waiters]
            self._armed.clear()
        else:
            woken = [*self._armed.pop(key, ()), *self._armed.pop(None, ())]
        for loop, future in woken:
            # RuntimeError: that loop has closed, so nobody is waiting there any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, future)

    async def wait_for(
        self, check: Callable[[], T | None], timeout: float, key: Hashable | None = None
    ) -> T | None:
        """The first non-None `check()` (called under the lock), or None after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = check()
                remaining = deadline - time.monotonic()
                if found is not None or remaining <= 0:
                    return found
                loop = asyncio.get_running_loop()
                waiter = (loop, loop.create_future())
                self._armed.setdefault(key, set()).add(waiter)
            try:
                await asyncio.wait_for(waiter[1], remaining)
            except TimeoutError:
                pass
            finally:
                with self._lock:
                    waiters = self._armed.get(key)
                    if waiters is not None:
                        waiters.discard(waiter)
                        if not waiters:
                            del self._armed[key]


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
