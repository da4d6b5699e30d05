"""Wait for something unless another thing (a stop, most often) comes first."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")


async def unless(waiting: Awaitable[T], *first: Awaitable[Any]) -> T | None:
    """What `waiting` gives, or None if one of `first` comes before it (then it is cancelled).

    A cancel can come too late: a receive that took deliveries in the meantime returns them (a
    semaphore, its slot), and they are the caller's to finish, or they would sit unacknowledged.
    """
    task = asyncio.ensure_future(waiting)
    others = [asyncio.ensure_future(other) for other in first]
    try:
        await asyncio.wait({task, *others}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # the caller is cancelled: so is what it waited for
        task.cancel()
        raise
    finally:
        for other in others:
            other.cancel()
    if not task.done():
        task.cancel()
        await asyncio.wait({task})
        if task.cancelled():
            return None
    return task.result()  # what was already received is finished even when stopping
