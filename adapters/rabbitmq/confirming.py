"""Publishing with pipelined publisher confirms, on a pika SelectConnection of its own thread.

A BlockingChannel in confirm mode waits for each message's confirm before it sends the next, so
one connection publishes at most one message per broker round trip (a quorum queue confirms once
its log is on disk: a few milliseconds). Here every publish goes out at once and its caller
waits only for its own confirm, so many messages share each round trip and each disk write.

Confirms are matched to messages by `pending.Confirms`. When the connection or channel drops,
every unconfirmed publish fails with QueueUnavailable and the thread reconnects with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pika
import pika.exceptions
from pika.channel import Channel

from adapters.rabbitmq.connection import CONNECTION_ERRORS
from adapters.rabbitmq.corked import CorkedConnection
from adapters.rabbitmq.pending import Confirms, Pending, hand_back
from inference.backoff import Backoff
from inference.errors import QueueUnavailable

log = logging.getLogger(__name__)


class AmqpPublisher:
    """`publish` may be called from any event loop in any thread; the connection lives on its own."""

    def __init__(self, parameters: pika.ConnectionParameters, name: str, backoff: Backoff) -> None:
        self._parameters = parameters
        self._backoff = backoff
        self._lock = threading.Lock()
        self._connection: CorkedConnection | None = None
        self._channel: Channel | None = None
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False
        self._last_error = "not connected yet"
        self._outbox: list[Pending] = []  # handed to the thread, not yet sent (under the lock)
        # On the connection's thread only:
        self._confirms = Confirms()
        self._opened = False  # whether the current connection got as far as a channel
        self._ever_ready = False

    def start(self) -> bool:
        """Start connecting (True), unless started already (False)."""
        with self._lock:
            if self._started:
                return False
            self._started = True
        self._thread.start()
        return True

    def wait_connected(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    @property
    def ever_connected(self) -> bool:
        """Whether a connection has been ready once: until then, callers may wait for the first."""
        return self._ever_ready

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        with self._lock:
            if self._connection is not None:
                self._connection.ioloop.add_callback_threadsafe(self._close)
        if self._started:
            self._thread.join(timeout)

    def publish(self, queue: str, body: bytes, properties: pika.BasicProperties) -> asyncio.Future[None]:
        """Send at once; the future (of the running loop) completes when the broker confirms.

        It fails with Overloaded when the broker refuses the message (the queue is full), with
        UnroutableMessage when the queue does not exist, and with QueueUnavailable when the
        connection is lost first. Messages published together go out in one wake-up of the
        connection's thread, and their confirms come back to each loop in one call.
        """
        loop = asyncio.get_running_loop()
        message = Pending(queue, body, properties, loop, loop.create_future())
        with self._lock:
            if self._connection is None or not self._ready.is_set():
                message.future.set_exception(
                    QueueUnavailable(f"the broker is unreachable: {self._last_error}")
                )
                return message.future
            self._outbox.append(message)
            if len(self._outbox) == 1:
                self._connection.ioloop.add_callback_threadsafe(self._send_outbox)
        return message.future

    # --- on the connection's thread ---

    def _run(self) -> None:
        while not self._stopping.is_set():
            connection = CorkedConnection(
                self._parameters,
                on_open_callback=self._on_connection_open,
                on_open_error_callback=self._on_connection_error,
                on_close_callback=self._on_connection_closed,
            )
            with self._lock:
                self._connection, self._opened = connection, False
                if self._stopping.is_set():  # stop() came before there was a connection to close
                    connection.ioloop.add_callback_threadsafe(self._close)
            connection.ioloop.start()  # until _on_connection_error/_closed stops it
            with self._lock:
                self._connection = None
                unsent, self._outbox = self._outbox, []
            connection.ioloop.close()
            self._fail(unsent, f"the broker connection was lost: {self._last_error}")
            if self._stopping.is_set():
                break
            if self._opened:
                self._backoff.reset()
            delay = self._backoff.next()
            log.warning("publisher: reconnecting to the broker in %.1f s (%s)", delay, self._last_error)
            self._stopping.wait(delay)

    def _on_connection_open(self, connection: pika.SelectConnection) -> None:
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

    def _on_connection_error(self, connection: pika.SelectConnection, error: BaseException | str) -> None:
        self._last_error = repr(error)
        connection.ioloop.stop()

    def _on_connection_closed(self, connection: pika.SelectConnection, reason: BaseException) -> None:
        self._ready.clear()
        self._channel = None
        if not self._stopping.is_set():
            self._last_error = repr(reason)
        connection.ioloop.stop()

    def _on_channel_closed(self, channel: Channel, reason: BaseException) -> None:
        # A channel closed by the broker takes its confirms with it: start afresh.
        self._ready.clear()
        self._last_error = repr(reason)
        self._channel = None
        with self._lock:
            connection = self._connection
        if connection is not None and connection.is_open:
            connection.close()

    def _close(self) -> None:
        with self._lock:
            connection = self._connection
        if connection is not None and connection.is_open:
            connection.close()
        elif connection is not None and not connection.is_closing:
            connection.ioloop.stop()

    def _send_outbox(self) -> None:
        with self._lock:
            outbox, self._outbox = self._outbox, []
        if self._channel is None or not self._channel.is_open:
            self._fail(outbox, f"the broker is unreachable: {self._last_error}")
            return
        with self._channel.connection.corked():  # the lot in a few writes, not three per message
            for index, message in enumerate(outbox):
                try:
                    self._channel.basic_publish(
                        "", message.queue, message.body, message.properties, mandatory=True
                    )
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
        hand_back(self._confirms.confirmed(method.delivery_tag, method.multiple, acked))

    def _fail(self, unsent: list[Pending], why: str) -> None:
        """Fail what was never sent, and everything unconfirmed (sent, perhaps enqueued: the
        client is told to retry, and a duplicate is harmless)."""
        unconfirmed = self._confirms.forget_all()
        hand_back([(message, QueueUnavailable(why)) for message in [*unsent, *unconfirmed]])
