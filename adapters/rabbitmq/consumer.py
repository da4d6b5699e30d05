"""The worker's side of the queue on RabbitMQ: deliveries and dead letters, with manual acks.

Two connections. The requests, the worker's hot path, arrive and are settled on a pika
asyncio connection on the event loop that receives them (`deliveries.LoopDeliveries`), opened by
the first receive. The other lives on a thread of its own (`AmqpThread`): it declares the
queues (`QueueTopology`) on every connect, so a broker that lost them gets them back, counts
them for the metrics (which are read from the metrics server's thread), and reads the dead
letters from `<name>.dead`, parking them, once settled, in `<name>.parked`; coroutines only wait
for it. What its consumer channel delivers waits in an `Inbox` until a coroutine takes it.

As the publisher's, the deliveries' connection belongs to one loop (see `per_loop`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import TypeVar

from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

from adapters.rabbitmq.connection import AmqpThread, connection_parameters
from adapters.rabbitmq.inbox import Inbox
from adapters.rabbitmq.parking import Parker
from adapters.rabbitmq.per_loop import DeliveriesPerLoop
from adapters.rabbitmq.settlement import How, Settlements
from adapters.rabbitmq.topology import QueueTopology
from inference.errors import QueueUnavailable
from inference.ports import Consumer, DeadLetter, DeadLetters, Delivery

T = TypeVar("T")

log = logging.getLogger(__name__)


class RabbitMQConsumer(Consumer, DeadLetters):
    def __init__(
        self, url: str, topology: QueueTopology, prefetch: int, timeout: float, client_name: str
    ) -> None:
        """`prefetch` bounds the deliveries one consumer holds unacknowledged (its batch and the
        next); `timeout` bounds every broker call."""
        self._topology = topology
        self._name, self._dead_name = topology.name, topology.dead_name
        self._prefetch = prefetch
        self._timeout = timeout
        parameters = connection_parameters(url, timeout, client_name)
        self._deliveries = DeliveriesPerLoop(parameters, self._name, prefetch, self._redeclare)
        self._amqp = AmqpThread(parameters, self._on_connect, self._on_disconnect, name=f"amqp-{self._name}")
        self._settlements = Settlements(self._amqp, lambda: (self._consumer, self._generation), timeout)
        self._lock = threading.Lock()
        self._inbox = Inbox(self._lock, self._settlements, topology.last_attempt, lambda: self._generation)
        self._wanted: set[str] = set()  # which queues the thread consumes, resumed on reconnect
        # Set on the connection's thread only:
        self._connection: BlockingConnection | None = None
        self._consumer: BlockingChannel | None = None
        self._consuming: set[str] = set()  # the queues the consumer channel has a consumer on
        self._parker = Parker(topology.parked_name)
        self._generation = 0  # delivery tags are valid for one consumer channel's life

    # --- lifecycle ---

    def start(self, wait: float) -> None:
        """Connect in the background (waiting up to `wait` s for it); retried until `shutdown`."""
        self._amqp.start()
        self._amqp.wait_connected(wait)

    async def aclose(self) -> None:
        """Close the deliveries' connection, waiting for the broker's close-ok, on its own loop
        (the worker ends on it); `shutdown` stops the rest."""
        await self._deliveries.aclose(self._timeout)

    def shutdown(self) -> None:
        """Stop; a deliveries' connection still open closes on its loop when that loop next runs
        (or at once, if that loop has closed): the broker requeues whatever was not settled."""
        self._deliveries.abandon()
        self._amqp.stop(self._timeout)

    def ready_count(self) -> int:
        """Messages waiting in the queue, from a passive declare on a channel of its own (the
        broker does not tell unacknowledged ones this way). Blocks up to the timeout."""
        return self._count(self._name)

    def dead_letter_count(self) -> int:
        """Dead letters waiting to be settled, and parked ones, counted alike."""
        return self._count(self._dead_name, self._topology.parked_name)

    def _count(self, *queues: str) -> int:
        def count() -> int:
            assert self._connection is not None  # the connection's thread runs it only when connected
            channel = self._connection.channel()
            try:
                return sum(int(channel.queue_declare(q, passive=True).method.message_count) for q in queues)
            finally:
                channel.close()

        return self._amqp.call(count).result(self._timeout)

    # --- the ports ---

    async def receive(self, max_count: int, fill_wait: float, idle_wait: float) -> list[Delivery]:
        return await self._deliveries.on_this_loop().take(max_count, fill_wait, idle_wait)

    async def ack(self, delivery: Delivery) -> None:
        self._deliveries.settle([delivery], How.ACK)

    async def ack_all(self, deliveries: Sequence[Delivery]) -> None:
        self._deliveries.settle(deliveries, How.ACK)

    async def reject(self, delivery: Delivery, requeue: bool) -> None:
        self._deliveries.settle([delivery], How.REQUEUE if requeue else How.DISCARD)

    async def receive_dead_letters(self, max_count: int, wait: float) -> list[DeadLetter]:
        await self._consume(self._dead_name)
        return await self._inbox.take_dead_letters(max_count, wait)

    async def release_dead_letter(self, letter: DeadLetter, requeue: bool) -> None:
        if requeue:
            await self._settlements.settle(letter.tag, How.REQUEUE)
            return
        # Parked (confirmed) before the letter leaves: a crash between the two parks it twice,
        # never not at all. A letter that cannot be parked goes back, to be settled again.
        try:
            await self._call(lambda: self._park(letter), "park a dead letter")
        except Exception:
            with contextlib.suppress(QueueUnavailable):
                await self.release_dead_letter(letter, requeue=True)
            raise
        await self._settlements.settle(letter.tag, How.ACK)

    async def close(self) -> None:
        await self._deliveries.stop(self._timeout)
        with self._lock:
            self._wanted.clear()
        if self._amqp.connected:
            await self._call(self._close_consumer, "stop consuming")

    # --- waiting on the connection's thread ---

    async def _call(self, function: Callable[[], T], what: str) -> T:
        future = self._amqp.call(function)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self._timeout)
        except TimeoutError as exc:
            raise QueueUnavailable(f"the broker did not {what} within {self._timeout:g} s") from exc

    async def _consume(self, queue: str) -> None:
        with self._lock:
            if queue in self._wanted:
                return
            self._wanted.add(queue)
        if self._amqp.connected:
            # If this fails, the reconnect resumes it; until then there is nothing to receive.
            with contextlib.suppress(QueueUnavailable):
                await self._call(lambda: self._start_consuming(queue), "start a consumer")

    # --- on the connection's thread ---

    def _on_connect(self, connection: BlockingConnection) -> None:
        self._connection = connection
        self._topology.declare(connection.channel())
        self._consumer, self._consuming = None, set()
        with self._lock:
            wanted = sorted(self._wanted)
        for queue in wanted:
            self._start_consuming(queue, connection)

    def _on_disconnect(self) -> None:
        self._connection = self._consumer = None
        self._parker.forget()
        self._inbox.clear(wake=True)  # the broker requeues them all

    def _redeclare(self) -> None:
        """From any thread: declare the queues again, on the connection's thread."""
        declaring = self._amqp.call(lambda: self._declare())
        declaring.add_done_callback(_log_failure)

    def _declare(self) -> None:
        if self._connection is not None:
            channel = self._connection.channel()
            try:
                self._topology.declare(channel)
            finally:
                channel.close()

    def _start_consuming(self, queue: str, connection: BlockingConnection | None = None) -> None:
        if self._consumer is not None and queue in self._consuming:
            return
        if self._consumer is None:
            connection = connection or self._connection
            if connection is None:
                raise QueueUnavailable("the broker connection is closing")
            self._consumer = connection.channel()
            self._generation += 1
        self._consumer.basic_qos(prefetch_count=self._prefetch)  # per consumer, for those after it
        self._consumer.basic_consume(queue, self._inbox.on_dead_letter)
        self._consuming.add(queue)

    def _close_consumer(self) -> None:
        if self._consumer is not None and self._consumer.is_open:
            self._consumer.close()  # the broker requeues what it had delivered on it
        self._consumer, self._consuming = None, set()
        self._inbox.clear(wake=False)

    def _park(self, letter: DeadLetter) -> None:
        message = self._inbox.letter_message(letter.tag)
        if message is None or self._connection is None:
            raise QueueUnavailable("the dead letter's channel is gone; the broker delivers it again")
        self._parker.park(self._connection, *message, letter.failure)
        self._inbox.parked(letter.tag)


def _log_failure(done: Future[None]) -> None:
    if done.exception() is not None:
        log.warning("could not declare the queues again: %s", done.exception())
