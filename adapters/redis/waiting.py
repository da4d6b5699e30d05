"""Waiting on a request's record: hear its channel, and read the record when the news matters."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from adapters.redis.codec import decode_record
from adapters.redis.connections import Completions
from adapters.redis.listener import Listener
from inference.domain import RequestRecord, RequestStatus


@dataclass(frozen=True)
class Slices:
    """Wait `total` seconds at most, reading the record again at least every `recheck`."""

    total: float
    recheck: float


async def wait_on(
    completions: Completions,
    channel: str,
    read: Callable[[], Awaitable[RequestRecord]],
    slices: Slices,
    done: Callable[[RequestRecord], bool],
    worth_reading: Callable[[str], bool],
) -> RequestRecord:
    """The record once `done` with it, or as it stands after `slices.total` (see the store's port).

    Registers to hear the channel first (on the loop's one subscription, see `connections`) and
    reads the record second, so a transition between the two cannot be missed; the listener stays
    registered to the end, so no message between two reads is missed either. A message that
    carries the record as stored (see `recorded`) stands for a read; one whose payload (a bare
    status, as older writers send) is not `worth_reading` is let pass without a read. Silence for
    `slices.recheck` means a read too: it notices a Redis that froze (StoreUnavailable, where
    listening alone would hear nothing until the end), and catches a message lost with a dropped
    connection.
    """
    heard = await completions.listen(channel)
    try:
        record = await follow(heard, await read(), read, slices, done, worth_reading)
        assert record is not None  # it had one to start from
        return record
    finally:
        completions.forget(channel, heard)


async def follow(
    heard: Listener,
    record: RequestRecord | None,
    read: Callable[[], Awaitable[RequestRecord]],
    slices: Slices,
    done: Callable[[RequestRecord], bool],
    worth_reading: Callable[[str], bool],
) -> RequestRecord | None:
    """`wait_on`'s wait, from `record` as it stands: None when the listener was registered
    before the record could change (a watch), so no read is owed. None at the end only if
    nothing was heard or read meanwhile."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + slices.total
    while True:
        _raise_if_cancelled()
        remaining = deadline - loop.time()
        if (record is not None and done(record)) or remaining <= 0:
            return record
        said = await heard.next(min(remaining, slices.recheck))
        if said:
            news = recorded(said[-1])  # the latest message says how the record stands now
            if news is not None:
                record = news
                continue
            if not any(worth_reading(payload) for payload in said):
                continue  # news this wait does not care about: no read
        record = await read()


def recorded(payload: str) -> RequestRecord | None:
    """The record a message carries (the stored JSON, as the transition wrote it in the same
    script call as its key), or None for a payload that is a bare status or unreadable: then the
    waiter reads the key, as it would without the message."""
    if not payload.startswith("{"):
        return None
    try:
        return decode_record(payload)
    except ValueError:
        return None


def any_news(_: str) -> bool:
    return True


def terminal_news(payload: str) -> bool:
    try:
        return RequestStatus(payload).is_terminal
    except ValueError:  # not a status this version knows: read the record to be sure
        return True


def _raise_if_cancelled() -> None:
    # A cancel that lands while redis-py sends a command is caught inside it and lost (the task
    # still counts it as cancelling): the wait would run on to its timeout. Honour it here.
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
