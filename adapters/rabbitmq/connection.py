"""One pika BlockingConnection, owned by one thread, that reconnects by itself.

pika's connections are not thread-safe, and a connection must keep answering heartbeats while
the process does other things (seconds of inference, an idle API). So the connection lives on
a thread of its own that does nothing but process AMQP events; other threads hand it work with
`call`, which wakes it at once through `add_callback_threadsafe`. When the connection drops —
a broker restart, a network fault, a blocked connection past its timeout — every pending call
fails with QueueUnavailable and the thread reconnects with backoff, running `on_connect` again
(to redeclare the topology and resume consuming).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingConnection
from pika.adapters.utils.io_services_utils import _AsyncTransportBase

from inference.backoff import Backoff
from inference.errors import QueueUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

# Failures that end a connection (or its channels): the cure is a fresh connection.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (pika.exceptions.AMQPError, OSError)

# pika reads its socket 4 KiB at a time, and after each read appends to its frame buffer (a copy)
# and goes round its I/O loop: a worker receiving 40 KiB images paid ten reads, ten copies of a
# growing buffer and ten trips round the loop per message. One read takes a whole frame (pika's
# default frame_max is 128 KiB); pika still stops reading after _MAX_CONSUME_BYTES per event so
# that its other work is not starved. A class attribute pika documents nowhere: a test checks
# that it is still there and still read.
RECV_BYTES = 128 * 1024
_AsyncTransportBase._MAX_RECV_BYTES = RECV_BYTES


def connection_parameters(url: str, timeout: float, client_name: str) -> pika.URLParameters:
    """`url`'s parameters with every wait bounded by `timeout`: a frozen broker is an error."""
    parameters = pika.URLParameters(url)
    parameters.blocked_connection_timeout = timeout
    parameters.socket_timeout = timeout
    parameters.connection_attempts = 1
    parameters.client_properties = {"connection_name": client_name}
    return parameters


def reconnect_backoff() -> Backoff:
    """How often a lost connection is tried again: soon at first, every few seconds at most."""
    return Backoff(first=0.2, maximum=5.0)


class AmqpThread:
    def __init__(
        self,
        parameters: pika.ConnectionParameters,
        on_connect: Callable[[BlockingConnection], None],
        on_disconnect: Callable[[], None],
        name: str,
    ) -> None:
        self._parameters = parameters
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._backoff = reconnect_backoff()
        self._lock = threading.Lock()
        self._connection: BlockingConnection | None = None
        self._pending: set[Future[Any]] = set()
        self._broken: BaseException | None = None
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._last_error = "not connected yet"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Close the connection (the broker requeues whatever was not acknowledged) and end."""
        self._stopping.set()
        with self._lock:
            if self._connection is not None:
                with contextlib.suppress(pika.exceptions.ConnectionWrongStateError):
                    self._connection.add_callback_threadsafe(lambda: None)  # wake it to see the flag
        self._thread.join(timeout)

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def last_error(self) -> str:
        return self._last_error

    def call(self, function: Callable[[], T]) -> Future[T]:
        """Run `function` on the connection's thread; QueueUnavailable if not connected."""
        future: Future[T] = Future()
        with self._lock:
            if self._connection is None:
                future.set_exception(QueueUnavailable(f"the broker is unreachable: {self._last_error}"))
                return future
            try:
                self._connection.add_callback_threadsafe(functools.partial(self._execute, function, future))
            except pika.exceptions.ConnectionWrongStateError:  # closing as we speak
                future.set_exception(QueueUnavailable("the broker connection is closing"))
                return future
            self._pending.add(future)
        return future

    def _execute(self, function: Callable[[], T], future: Future[T]) -> None:
        with self._lock:
            self._pending.discard(future)
        if not future.set_running_or_notify_cancel():
            return
        try:
            result = function()
        except CONNECTION_ERRORS as exc:
            future.set_exception(QueueUnavailable(f"the broker connection failed: {exc!r}"))
            self._broken = exc  # the event loop below sees it and reconnects
        except BaseException as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                connection = pika.BlockingConnection(self._parameters)
            except CONNECTION_ERRORS as exc:
                self._last_error = repr(exc)
                delay = self._backoff.next()
                log.warning("cannot reach the broker (%r); retrying in %.1f s", exc, delay)
                self._stopping.wait(delay)
                continue
            try:
                self._serve(connection)
            except CONNECTION_ERRORS as exc:
                self._last_error = repr(exc)
                # Paced even after a connection that opened: a broker that refuses what
                # `on_connect` asks (a queue declared otherwise) must not be asked again at once.
                delay = self._backoff.next()
                log.warning("the broker connection was lost (%r); reconnecting in %.1f s", exc, delay)
                self._drop(connection)
                self._stopping.wait(delay)
            else:
                self._drop(connection)

    def _serve(self, connection: BlockingConnection) -> None:
        self._broken = None
        self._on_connect(connection)
        with self._lock:
            self._connection = connection
        self._connected.set()
        self._backoff.reset()
        log.info("connected to the broker at %s:%s", self._parameters.host, self._parameters.port)
        while not self._stopping.is_set():
            connection.process_data_events(time_limit=1.0)
            if self._broken is not None:
                raise self._broken

    def _drop(self, connection: BlockingConnection) -> None:
        self._connected.clear()
        with self._lock:
            self._connection = None
            pending, self._pending = self._pending, set()
        for future in pending:
            if future.set_running_or_notify_cancel():
                future.set_exception(QueueUnavailable(f"the broker connection was lost: {self._last_error}"))
        self._on_disconnect()
        try:
            if connection.is_open:
                connection.close()
        except CONNECTION_ERRORS:
            pass  # it is going away either way
