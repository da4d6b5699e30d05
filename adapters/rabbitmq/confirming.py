"""Publishing with pipelined publisher confirms, on a pika AsyncioConnection on the caller's loop.

A BlockingChannel in confirm mode waits for each message's confirm before it sends the next, so
one connection publishes at most one message per broker round trip (a quorum queue confirms once
its log is on disk: a few milliseconds). Here every publish goes out at once and its caller
waits only for its own confirm, so many messages share each round trip and each disk write.

The connection runs on the event loop that publishes (the API's), so nothing crosses a thread:
the publishes of one loop iteration go to the socket in one write, from one callback scheduled
when the outbox fills, and each confirm completes its future directly. (On a thread of its own,
every publish woke that thread through a socketpair and every confirm woke the loop back through
an eventfd, with the GIL passed back and forth each time: about a fifth of the API's CPU.)

Confirms are matched to messages by `pending.Confirms`. When the connection or channel drops,
every unsent and unconfirmed publish fails with QueueUnavailable, and it reconnects with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import pika
from pika.channel import Channel

from adapters.rabbitmq.connection import CONNECTION_ERRORS
from adapters.rabbitmq.corked import CorkedConnection
from adapters.rabbitmq.loop_connection import LoopConnection
from adapters.rabbitmq.pending import Confirms, Pending, complete
from inference.backoff import Backoff
from inference.errors import QueueUnavailable

log = logging.getLogger(__name__)


class AmqpPublisher(LoopConnection):
    """Bound to `loop`: every method but `abandon` is called on it."""

    role = "publisher"
    log = log

    def __init__(
        self, parameters: pika.ConnectionParameters, backoff: Backoff, loop: asyncio.AbstractEventLoop
    ) -> None:
        super().__init__(parameters, backoff, loop)
        self._channel: Channel | None = None
        self._ready = asyncio.Event()  # the channel is open, in confirm mode
        self._started = False
        self._outbox: list[Pending] = []  # published since the last flush, not yet sent
        self._confirms = Confirms()
        self._opened = False  # whether the current connection got as far as a channel
        self._ever_ready = False

    def start(self) -> bool:
        """Start connecting (True), unless started already (False)."""
        if self._started:
            return False
        self._started = True
        self._connect()
        return True

    async def wait_connected(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout)
        return self._ready.is_set()

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    @property
    def ever_connected(self) -> bool:
        """Whether a connection has been ready once: until then, callers may wait for the first."""
        return self._ever_ready

    def publish(self, queue: str, body: bytes, properties: pika.BasicProperties) -> asyncio.Future[None]:
        """Send soon; the future completes when the broker confirms.

        It fails with Overloaded when the broker refuses the message (the queue is full), with
        UnroutableMessage when the queue does not exist, and with QueueUnavailable when the
        connection is lost first. The publishes of one loop iteration are sent together, in
        the callback the first of them schedules.
        """
        future: asyncio.Future[None] = self.loop.create_future()
        if self._channel is None or not self._ready.is_set():
            future.set_exception(QueueUnavailable(f"the broker is unreachable: {self._last_error}"))
            return future
        self._outbox.append(Pending(queue, body, properties, future))
        if len(self._outbox) == 1:
            self.loop.call_soon(self._send_outbox)
        return future

    def _connect(self) -> None:
        self._opened = False
        super()._connect()

    def _on_open(self, connection: CorkedConnection) -> None:
        connection.channel(on_open_callback=self._on_channel_open)

    def _on_channel_open(self, channel: Channel) -> None:
        self._channel, self._opened = channel, True
        self._confirms = Confirms()  # a new channel counts delivery tags from 1
        channel.add_on_close_callback(self._on_channel_closed)
        channel.add_on_return_callback(self._on_return)
        channel.confirm_delivery(ack_nack_callback=self._on_confirm, callback=self._on_confirm_mode)

    def _on_confirm_mode(self, _: Any) -> None:
        self._ever_ready = True
        self._ready.set()

    def _forget(self) -> None:
        """Fail what the connection held, and count the next backoff from the start if it had
        got as far as a channel."""
        self._channel = None
        self._ready.clear()
        unsent, self._outbox = self._outbox, []
        self._fail(unsent, f"the broker connection was lost: {self._last_error}")
        if self._opened:
            self._backoff.reset()

    def _on_channel_closed(self, channel: Channel, reason: BaseException) -> None:
        # A channel closed by the broker takes its confirms with it: start afresh.
        self._ready.clear()
        self._last_error = repr(reason)
        self._channel = None
        connection = self._connection
        if connection is not None and connection.is_open:
            connection.close()

    def _send_outbox(self) -> None:
        outbox, self._outbox = self._outbox, []
        if not outbox:  # the connection was lost meanwhile, and failed them
            return
        channel, connection = self._channel, self._connection
        if channel is None or connection is None or not channel.is_open:
            self._fail(outbox, f"the broker is unreachable: {self._last_error}")
            return
        with connection.corked():  # the lot in a write or a few, not three per message
            for index, message in enumerate(outbox):
                try:
                    channel.basic_publish("", message.queue, message.body, message.properties, mandatory=True)
                except CONNECTION_ERRORS as exc:
                    self._fail(outbox[index:], f"the broker connection failed: {exc!r}")
                    return
                self._confirms.sent(message)

    def _on_return(
        self, channel: Channel, method: Any, properties: pika.BasicProperties, body: bytes
    ) -> None:
        if properties.message_id is not None:
            self._confirms.returned(properties.message_id)

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        acked = isinstance(method, pika.spec.Basic.Ack)
        complete(self._confirms.confirmed(method.delivery_tag, method.multiple, acked))

    def _fail(self, unsent: list[Pending], why: str) -> None:
        """Fail what was never sent, and everything unconfirmed (sent, perhaps enqueued: the
        client is told to retry, and a duplicate is harmless)."""
        unconfirmed = self._confirms.forget_all()
        complete([(message, QueueUnavailable(why)) for message in [*unsent, *unconfirmed]])
