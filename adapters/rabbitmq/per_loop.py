"""The deliveries' connection of the event loop that receives, made on its first receive.

pika's asyncio connection belongs to one loop. A worker has one loop for its life; a caller that
uses several in turn gets a new connection on each new loop, and the last loop's is abandoned
(closed on that loop if it still runs, else its socket), the broker requeuing what it held.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pika

from adapters.rabbitmq.connection import reconnect_backoff
from adapters.rabbitmq.deliveries import LoopDeliveries
from adapters.rabbitmq.settlement import How
from inference.ports import Delivery


class DeliveriesPerLoop:
    def __init__(
        self, parameters: pika.ConnectionParameters, queue: str, prefetch: int, redeclare: Callable[[], None]
    ) -> None:
        self._parameters, self._queue = parameters, queue
        self._prefetch, self._redeclare = prefetch, redeclare
        self._current: LoopDeliveries | None = None  # of the loop that last received

    def on_this_loop(self) -> LoopDeliveries:
        loop = asyncio.get_running_loop()
        current = self._current
        if current is None or current.loop is not loop:
            if current is not None:
                current.abandon()
            current = self._current = LoopDeliveries(
                self._parameters, self._queue, self._prefetch, self._redeclare, reconnect_backoff(), loop
            )
        return current

    def settle(self, deliveries: Sequence[Delivery], how: How) -> None:
        current = self._current
        if current is not None and current.loop is asyncio.get_running_loop():
            current.settle([delivery.tag for delivery in deliveries], how)
        # Else they came on a connection abandoned since (another loop received), and the
        # broker has them back already.

    async def stop(self, timeout: float) -> None:
        """Stop consuming on this loop's connection, if it has one."""
        current = self._current
        if current is not None and current.loop is asyncio.get_running_loop():
            await current.stop(timeout)

    async def aclose(self, timeout: float) -> None:
        """Close the connection, on its own loop if that is this one (waiting for the broker's
        close-ok), else by abandoning it."""
        current, self._current = self._current, None
        if current is not None and current.loop is asyncio.get_running_loop():
            await current.aclose(timeout)
        elif current is not None:
            current.abandon()

    def abandon(self) -> None:
        """From any thread (see `LoopDeliveries.abandon`)."""
        current, self._current = self._current, None
        if current is not None:
            current.abandon()
