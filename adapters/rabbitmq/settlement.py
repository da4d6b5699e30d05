"""Acknowledgements and rejections, carried to the consumer's connection thread in groups.

The thread settles the dead letters; the requests are settled on the worker's loop
(`deliveries`), through the same `send_settlements`.

Settlements made together share one trip to the connection's thread: the first one queued
schedules the trip, the rest ride along, and their waiters are woken with one call back to their
event loop. A batch settled in one call (`settle_all`: a worker acknowledging its batch) is one
entry with one waiter, however many deliveries it holds. A delivery tag names the consumer
channel it came from (`<generation>.<tag>`): a settlement for a channel that is gone is dropped,
since the broker has requeued that message already.

Acknowledgements in a group go to the broker as one `basic_ack(multiple=True)` where that is
exact. The broker reads `multiple` as "every unsettled tag up to this one", including deliveries
still being processed or about to be rejected, so the group's acks are folded only over the
oldest run of outstanding tags (all tags delivered on the channel and not yet settled, tracked
here) that are all being acknowledged; anything else is settled one by one.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol

from pika.adapters.blocking_connection import BlockingChannel

from adapters.rabbitmq.connection import AmqpThread
from inference.errors import QueueUnavailable

log = logging.getLogger(__name__)


class How(enum.Enum):
    ACK = "ack"
    REQUEUE = "requeue"  # basic_nack(requeue=True): delivered again
    DISCARD = "discard"  # basic_nack(requeue=False): dead-lettered


@dataclass(frozen=True, slots=True)
class _Queued:
    tags: Sequence[str]
    how: How
    settled: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop


class Settlements:
    def __init__(
        self, amqp: AmqpThread, channel: Callable[[], tuple[BlockingChannel | None, int]], timeout: float
    ):
        """`channel()` gives the consumer channel and its generation, on the connection's thread."""
        self._amqp = amqp
        self._channel = channel
        self._timeout = timeout
        self._lock = threading.Lock()
        self._queued: list[_Queued] = []
        # On the connection's thread only: the tags delivered on channel `_generation` and not
        # yet settled, oldest first (the broker numbers a channel's deliveries upwards; a dict
        # keeps insertion order and removes in O(1)).
        self._outstanding: dict[int, None] = {}
        self._generation = -1

    def delivered(self, generation: int, tag: int) -> None:
        """On the connection's thread, for every delivery on the consumer channel, before
        anything else happens to it: what a multiple acknowledgement must not cover."""
        self._track(generation)
        self._outstanding[tag] = None

    async def settle(self, tag: str, how: How) -> None:
        await self.settle_all((tag,), how)

    async def settle_all(self, tags: Sequence[str], how: How) -> None:
        """Settle every one of `tags` alike: one entry, one waiter, one wake-up for them all."""
        if not tags:
            return
        loop = asyncio.get_running_loop()
        settled: asyncio.Future[None] = loop.create_future()
        with self._lock:
            self._queued.append(_Queued(tags, how, settled, loop))
            first = len(self._queued) == 1
        if first:
            scheduled = self._amqp.call(self._run)
            scheduled.add_done_callback(self._fail_queued_if_not_run)
        try:
            await asyncio.wait_for(settled, self._timeout)
        except TimeoutError as exc:
            raise QueueUnavailable(
                f"the broker did not settle a delivery within {self._timeout:g} s"
            ) from exc

    def _fail_queued_if_not_run(self, scheduled: Future[None]) -> None:
        error = scheduled.exception()
        if error is None:
            return
        with self._lock:
            queued, self._queued = self._queued, []
        _resolve([(item, error) for item in queued])

    def _track(self, generation: int) -> None:
        if generation != self._generation:  # a new channel numbers its deliveries from 1 again
            self._outstanding, self._generation = {}, generation

    def _run(self) -> None:
        """On the connection's thread: settle everything queued so far."""
        with self._lock:
            queued, self._queued = self._queued, []
        channel, current = self._channel()
        self._track(current)
        live: list[tuple[int, How]] = []
        sent: list[_Queued] = []  # the entries with a tag still live: settled by `send_settlements`
        outcomes: list[tuple[_Queued, BaseException | None]] = []
        for item in queued:
            before = len(live)
            for tag in item.tags:
                generation, _, delivery_tag = tag.partition(".")
                if channel is None or int(generation) != current:
                    log.debug("delivery %s outlived its channel; the broker redelivers it", tag)
                else:
                    live.append((int(delivery_tag), item.how))
            if len(live) > before:
                sent.append(item)
            else:
                outcomes.append((item, None))
        try:
            if channel is not None and live:
                send_settlements(channel, self._outstanding, live)
            outcomes += [(item, None) for item in sent]
        except BaseException as exc:
            failed = QueueUnavailable(f"the broker connection failed: {exc!r}")
            outcomes += [(item, failed) for item in sent]
            raise  # a failed channel: the connection's thread reconnects
        finally:
            _resolve(outcomes)


class AmqpChannel(Protocol):
    """What settling needs of a channel: pika's blocking and asynchronous channels both have it."""

    def basic_ack(self, delivery_tag: int = 0, multiple: bool = False) -> None: ...
    def basic_nack(self, delivery_tag: int = 0, multiple: bool = False, requeue: bool = True) -> None: ...


def send_settlements(
    channel: AmqpChannel, outstanding: dict[int, None], live: Sequence[tuple[int, How]]
) -> None:
    """Settle `live` (delivery tags of `channel`'s, each with how) on `channel`, folding the
    acknowledgements over the oldest run of `outstanding` tags into one `multiple` ack where that
    is exact (see the module's docstring); the settled tags leave `outstanding`."""
    acks = {tag for tag, how in live if how is How.ACK}
    covered: list[int] = []
    for tag in outstanding:  # oldest first: stop at the first one not acknowledged now
        if tag not in acks:
            break
        covered.append(tag)
    folded = set(covered) if len(covered) > 1 else set()
    if folded:
        channel.basic_ack(covered[-1], multiple=True)
    for tag, how in live:
        if tag in folded:
            folded.discard(tag)  # (a second ack of one tag, if any, goes out as before)
        elif how is How.ACK:
            channel.basic_ack(tag)
        else:
            channel.basic_nack(tag, requeue=how is How.REQUEUE)
        outstanding.pop(tag, None)


def _resolve(outcomes: Sequence[tuple[_Queued, BaseException | None]]) -> None:
    """Wake the waiters: one call into each event loop, however many settlements it waits on."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Queued, BaseException | None]]] = {}
    for item, error in outcomes:
        by_loop.setdefault(item.loop, []).append((item, error))
    for loop, items in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_set_all, items)


def _set_all(items: Sequence[tuple[_Queued, BaseException | None]]) -> None:
    for item, error in items:
        if item.settled.done():  # its waiter timed out or was cancelled
            continue
        if error is None:
            item.settled.set_result(None)
        else:
            item.settled.set_exception(error)
