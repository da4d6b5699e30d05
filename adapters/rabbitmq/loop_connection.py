"""A pika AsyncioConnection bound to one event loop, reconnecting with backoff until closed.

What the API's publisher (`confirming`) and the worker's consumer (`deliveries`) share: the
connection's life on the loop, the backoff between attempts, an orderly close that waits for
the broker's close-ok, and abandoning it from another thread. Each opens its own channel once
connected (`_on_open`) and lets go of what the connection held when it is lost (`_forget`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pika

from adapters.rabbitmq.corked import CorkedConnection, close_socket
from inference.backoff import Backoff


class LoopConnection:
    """Bound to `loop`: every method but `abandon` is called on it."""

    role = "connection"  # what the log lines call it
    log = logging.getLogger(__name__)

    def __init__(
        self, parameters: pika.ConnectionParameters, backoff: Backoff, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.loop = loop
        self._parameters = parameters
        self._backoff = backoff
        self._connection: CorkedConnection | None = None
        self._retry: asyncio.TimerHandle | None = None  # the next attempt, after a backoff
        self._gone = asyncio.Event()  # no connection is open or opening
        self._closed = False  # aclose() or abandon(): for good
        self._last_error = "not connected yet"

    async def aclose(self, timeout: float) -> None:
        """Close the connection (waiting up to `timeout` s for the broker's close-ok), for good."""
        self._shut()
        if self._connection is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._gone.wait(), timeout)

    def abandon(self) -> None:
        """From any thread: close the connection on its loop, or, once that loop has closed
        (nothing can run on it any more), its socket."""
        if not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):  # it closed as we spoke
                self.loop.call_soon_threadsafe(self._shut)
                return
        close_socket(self._connection)

    def _shut(self) -> None:
        self._closed = True
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        connection = self._connection
        if connection is not None and not (connection.is_closing or connection.is_closed):
            connection.close()  # while opening too: pika aborts the opening, _on_lost follows

    def _connect(self) -> None:
        self._retry = None
        self._gone.clear()
        self._connection = CorkedConnection(
            self._parameters,
            on_open_callback=self._on_open,
            on_open_error_callback=self._on_lost,
            on_close_callback=self._on_lost,
            custom_ioloop=self.loop,
        )

    def _on_lost(self, connection: CorkedConnection, reason: BaseException | str) -> None:
        """The connection closed, or never opened: let go of what it held; try again later."""
        if connection is not self._connection:
            return
        self._connection = None
        if not self._closed:
            self._last_error = repr(reason)
        self._forget()
        self._gone.set()
        if self._closed:
            return
        delay = self._backoff.next()
        self.log.warning("%s: reconnecting to the broker in %.1f s (%s)", self.role, delay, self._last_error)
        self._retry = self.loop.call_later(delay, self._connect)

    def _on_open(self, connection: CorkedConnection) -> None:
        """Connected: open the channel."""
        raise NotImplementedError

    def _forget(self) -> None:
        """The connection is gone, and its channel with it (`_last_error` says why)."""
        raise NotImplementedError
