"""Acknowledgements and rejections, carried to the consumer's connection thread in groups.

Settlements made together (a worker acknowledges its batch at once) share one trip to the
connection's thread: the first one queued schedules the trip, the rest ride along. A delivery
tag names the consumer channel it came from (`<generation>.<tag>`): a settlement for a channel
that is gone is dropped, since the broker has requeued that message already.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future

from pika.adapters.blocking_connection import BlockingChannel

from adapters.rabbitmq.connection import AmqpThread
from inference.errors import QueueUnavailable

log = logging.getLogger(__name__)

Action = Callable[[BlockingChannel, int], None]


class Settlements:
    def __init__(
        self, amqp: AmqpThread, channel: Callable[[], tuple[BlockingChannel | None, int]], timeout: float
    ):
        """`channel()` gives the consumer channel and its generation, on the connection's thread."""
        self._amqp = amqp
        self._channel = channel
        self._timeout = timeout
        self._lock = threading.Lock()
        self._queued: list[tuple[str, Action, Future[None]]] = []

    async def settle(self, tag: str, action: Action) -> None:
        settled: Future[None] = Future()
        with self._lock:
            self._queued.append((tag, action, settled))
            first = len(self._queued) == 1
        if first:
            scheduled = self._amqp.call(self._run)
            scheduled.add_done_callback(self._fail_queued_if_not_run)
        try:
            await asyncio.wait_for(asyncio.wrap_future(settled), self._timeout)
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
        for _, _, settled in queued:
            if not settled.done():
                settled.set_exception(error)

    def _run(self) -> None:
        """On the connection's thread: settle everything queued so far."""
        with self._lock:
            queued, self._queued = self._queued, []
        channel, current = self._channel()
        for tag, action, settled in queued:
            generation, _, delivery_tag = tag.partition(".")
            if channel is None or int(generation) != current:
                log.debug("delivery %s outlived its channel; the broker redelivers it", tag)
            else:
                try:
                    action(channel, int(delivery_tag))
                except BaseException as exc:
                    for _, _, unsent in queued:
                        if not unsent.done():
                            unsent.set_exception(QueueUnavailable(f"the broker connection failed: {exc!r}"))
                    raise  # a failed channel: the connection's thread reconnects
            settled.set_result(None)
