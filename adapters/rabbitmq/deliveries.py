"""The request queue's consumer, on a pika AsyncioConnection on the worker's event loop.

On a thread of its own (as the dead letters' consumer still is), the connection woke the loop
for every batch and the loop woke it back for every acknowledgement, passing the GIL each time:
116-136 µs of CPU per 27 KB message, against 57-62 here (`bench.amqp_consumer`).

The consumer channel opens when `take` first wants deliveries, and again after a lost connection
or channel (with backoff); `stop` closes it, and the broker requeues whatever it had delivered
that nobody settled. A delivery's tag names the channel it came on (`<generation>.<delivery
tag>`): settling one whose channel is gone does nothing, as the broker has requeued it already.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import pika
import pika.exceptions
from pika.channel import Channel

from adapters.rabbitmq.arrivals import Arrivals, resolve
from adapters.rabbitmq.connection import CONNECTION_ERRORS
from adapters.rabbitmq.corked import CorkedConnection
from adapters.rabbitmq.loop_connection import LoopConnection
from adapters.rabbitmq.messages import attempt_of, decode
from adapters.rabbitmq.settlement import How, send_settlements
from inference.backoff import Backoff
from inference.errors import MalformedMessage, QueueUnavailable
from inference.ports import Delivery

# The consumer's lines keep the logger name operators filter on, whichever module writes them.
log = logging.getLogger("adapters.rabbitmq.consumer")

NOT_FOUND = 404  # the broker closes a channel that consumes a queue it does not have


class LoopDeliveries(LoopConnection):
    """Bound to `loop`: every method but `abandon` is called on it. `redeclare` (any thread)
    declares the queues again, for a channel refused because its queue was deleted."""

    role = "consumer"
    log = log

    def __init__(
        self,
        parameters: pika.ConnectionParameters,
        queue: str,
        prefetch: int,
        redeclare: Callable[[], None],
        backoff: Backoff,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        super().__init__(parameters, backoff, loop)
        self._queue = queue
        self._prefetch = prefetch
        self._redeclare = redeclare
        self._channel: Channel | None = None  # consuming
        self._opening = False  # a channel is being opened
        self._wanted = False  # take() wants deliveries; stop() ends it
        self._generation = 0  # of the consumer channel: delivery tags are valid for its life
        self._outstanding: dict[int, None] = {}  # delivered, not settled, oldest first
        self._arrivals = Arrivals(loop)

    # --- for the consumer ---

    async def take(self, max_count: int, fill_wait: float, idle_wait: float) -> list[Delivery]:
        """As `Consumer.receive`."""
        self._want()
        return await self._arrivals.take(max_count, fill_wait, idle_wait)

    def settle(self, tags: Sequence[str], how: How) -> None:
        """Settle each of `tags` alike, in one socket write (the loop's next turn sends what this
        buffers); those of a channel that is gone are already back in the queue."""
        channel, connection = self._channel, self._connection
        live: list[tuple[int, How]] = []
        for tag in tags:
            generation, _, delivery_tag = tag.partition(".")
            if channel is not None and channel.is_open and int(generation) == self._generation:
                live.append((int(delivery_tag), how))
            else:
                log.debug("delivery %s outlived its channel; the broker redelivers it", tag)
        if not live or channel is None or connection is None:
            return
        try:
            with connection.corked():
                send_settlements(channel, self._outstanding, live)
        except CONNECTION_ERRORS as exc:
            raise QueueUnavailable(f"the broker connection failed: {exc!r}") from exc

    async def stop(self, timeout: float) -> None:
        """Stop consuming: close the channel, waiting up to `timeout` s for the broker to have
        it closed (and so to have requeued what it delivered)."""
        self._wanted = False
        self._arrivals.clear()
        channel, self._channel = self._channel, None
        if channel is None or not channel.is_open:
            return
        closed: asyncio.Future[None] = self.loop.create_future()
        channel.add_on_close_callback(lambda *_: resolve(closed))
        channel.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(closed, timeout)

    # --- the connection and its channel ---

    def _want(self) -> None:
        self._wanted = True
        if self._closed:
            raise QueueUnavailable("the consumer is closed")
        if self._connection is None:
            if self._retry is None:  # else a reconnect is due after its backoff
                self._connect()
        elif self._connection.is_open and self._channel is None and not self._opening:
            self._on_open(self._connection)

    def _on_open(self, connection: CorkedConnection) -> None:
        if self._wanted and not self._closed:
            self._opening = True
            connection.channel(on_open_callback=self._on_channel_open)

    def _on_channel_open(self, channel: Channel) -> None:
        self._opening = False
        if not self._wanted or self._closed:  # stopped while it opened
            channel.close()
            return
        self._channel, self._outstanding = channel, {}
        self._generation += 1
        channel.add_on_close_callback(self._on_channel_closed)
        channel.basic_qos(prefetch_count=self._prefetch)  # pika sends the consume after its qos-ok
        channel.basic_consume(self._queue, self._on_message, callback=lambda _: self._backoff.reset())

    def _on_message(
        self, channel: Channel, method: Any, properties: pika.BasicProperties, body: bytes
    ) -> None:
        current = self._channel
        if current is None or channel is not current:  # being closed: the broker requeues it
            return
        try:
            request = decode(properties, body)
        except MalformedMessage as exc:
            log.warning("dead-lettering an unreadable message %r: %s", properties.message_id, exc)
            current.basic_nack(method.delivery_tag, requeue=False)
            return
        self._outstanding[method.delivery_tag] = None  # before anyone acknowledges it
        tag = f"{self._generation}.{method.delivery_tag}"
        self._arrivals.put(Delivery(tag, request, attempt_of(properties)))

    def _on_channel_closed(self, channel: Channel, reason: BaseException) -> None:
        if channel is not self._channel:  # closed by `stop`
            return
        self._channel, self._opening = None, False
        self._arrivals.clear()  # the broker requeues them all
        connection = self._connection
        if connection is None or not connection.is_open:  # the connection's loss: `_on_lost` tells
            return
        self._last_error = repr(reason)
        log.warning("consumer: the broker closed the consumer channel (%s)", self._last_error)
        if isinstance(reason, pika.exceptions.ChannelClosedByBroker) and reason.reply_code == NOT_FOUND:
            self._redeclare()
        # A fresh connection, after a backoff: a broker that refuses the channel at once must
        # not be asked again at once.
        connection.close()

    def _forget(self) -> None:
        """Its deliveries go back to the queue: forget them."""
        self._channel, self._opening = None, False
        self._arrivals.clear()

    def _shut(self) -> None:
        self._wanted = False
        self._arrivals.clear()
        super()._shut()
