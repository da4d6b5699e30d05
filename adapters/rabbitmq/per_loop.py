"""The connection of the event loop that uses it, made on that loop's first use.

pika's asyncio connection belongs to one loop. A process has one loop for its life; a caller
that uses several in turn (`asyncio.run` per call, pytest-asyncio's loop per test) gets a new
connection on each new loop, and the last loop's is abandoned (closed on that loop if it still
runs, else its socket), the broker requeuing what it held. Loops that use it at the same time
would take the connection from each other: one loop at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import pika

from adapters.rabbitmq.connection import reconnect_backoff
from adapters.rabbitmq.deliveries import LoopDeliveries
from adapters.rabbitmq.loop_connection import LoopConnection
from adapters.rabbitmq.settlement import How
from inference.ports import Delivery

C = TypeVar("C", bound=LoopConnection)


class PerLoop(Generic[C]):
    """`make(loop)` makes the connection of a loop."""

    def __init__(self, make: Callable[[asyncio.AbstractEventLoop], C]) -> None:
        self._make = make
        self._current: C | None = None  # of the loop that last used it

    def on_this_loop(self) -> C:
        loop = asyncio.get_running_loop()
        current = self._current
        if current is None or current.loop is not loop:
            if current is not None:
                current.abandon()
            current = self._current = self._make(loop)
        return current

    def here(self) -> C | None:
        """This loop's connection, if the last one made is (else None)."""
        current = self._current
        return current if current is not None and current.loop is asyncio.get_running_loop() else None

    async def aclose(self, timeout: float) -> None:
        """Close the connection, on its own loop if that is this one (waiting up to `timeout` s
        for the broker's close-ok), else by abandoning it."""
        current, self._current = self._current, None
        if current is not None and current.loop is asyncio.get_running_loop():
            await current.aclose(timeout)
        elif current is not None:
            current.abandon()

    def abandon(self) -> None:
        """From any thread (see `LoopConnection.abandon`)."""
        current, self._current = self._current, None
        if current is not None:
            current.abandon()


class DeliveriesPerLoop(PerLoop[LoopDeliveries]):
    """The consumer's deliveries, on the loop that receives them."""

    def __init__(
        self, parameters: pika.ConnectionParameters, queue: str, prefetch: int, redeclare: Callable[[], None]
    ) -> None:
        super().__init__(
            lambda loop: LoopDeliveries(parameters, queue, prefetch, redeclare, reconnect_backoff(), loop)
        )

    def settle(self, deliveries: Sequence[Delivery], how: How) -> None:
        here = self.here()
        if here is not None:
            here.settle([delivery.tag for delivery in deliveries], how)
        # Else they came on a connection abandoned since (another loop received), and the
        # broker has them back already.

    async def stop(self, timeout: float) -> None:
        """Stop consuming on this loop's connection, if it has one."""
        here = self.here()
        if here is not None:
            await here.stop(timeout)
