"""The Queue port on RabbitMQ: a durable quorum queue, publisher confirms, manual acks.

The queues (`QueueTopology`) are declared on every connect, so a broker that lost them gets
them back; dead letters are read from `<name>.dead` by `receive_dead_letters`. Every call runs
on the connection's own thread (`AmqpThread`); coroutines only wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

from adapters.rabbitmq.connection import AmqpThread
from adapters.rabbitmq.messages import (
    MalformedMessage,
    dead_letter_failure,
    decode,
    delivery_attempt,
    encode,
    request_id_of,
)
from adapters.rabbitmq.publisher import AmqpPublisher, UnroutableMessage
from adapters.rabbitmq.topology import QueueTopology
from adapters.wakeup import WakeUp
from inference.domain import InferenceRequest
from inference.errors import QueueUnavailable
from inference.ports import DeadLetter, Delivery, Queue

log = logging.getLogger(__name__)

T = TypeVar("T")
Item = TypeVar("Item", Delivery, DeadLetter)


class RabbitMQQueue(Queue):
    def __init__(
        self,
        url: str,
        name: str = "inference.requests",
        max_length: int = 10_000,
        max_bytes: int | None = None,
        delivery_limit: int = 4,
        prefetch: int = 8,
        timeout: float = 5.0,
        client_name: str = "inference",
    ) -> None:
        """`prefetch` bounds the deliveries one consumer holds unacknowledged (its batch and the
        next); `timeout` bounds a publish's wait for its confirm and any other broker call."""
        self._topology = QueueTopology(name, max_length, max_bytes, delivery_limit)
        self._name, self._dead_name = name, self._topology.dead_name
        self._prefetch = prefetch
        self._timeout = timeout
        parameters = pika.URLParameters(url)
        parameters.blocked_connection_timeout = timeout
        parameters.socket_timeout = timeout
        parameters.connection_attempts = 1
        parameters.client_properties = {"connection_name": client_name}
        self._amqp = AmqpThread(parameters, self._on_connect, self._on_disconnect, name=f"amqp-{name}")
        # Publishing has a connection of its own, opened by the first publish (workers never do).
        self._publisher = AmqpPublisher(parameters, name=f"amqp-publish-{name}")
        self._lock = threading.Lock()
        self._arrivals = WakeUp(self._lock)
        self._deliveries: deque[Delivery] = deque()
        self._dead_letters: deque[DeadLetter] = deque()
        self._unsettled: list[tuple[str, Callable[[BlockingChannel, int], None], Future[None]]] = []
        self._wanted: set[str] = set()  # which queues this client consumes, resumed on reconnect
        # Set on the connection's thread only:
        self._declarer: BlockingChannel | None = None
        self._consumer: BlockingChannel | None = None
        self._consuming: set[str] = set()  # the queues the consumer channel has a consumer on
        self._generation = 0  # delivery tags are valid for one consumer channel's life

    # --- lifecycle ---

    def start(self, wait: float = 0.0) -> None:
        """Connect in the background (waiting up to `wait` s for it); retried until `shutdown`."""
        self._amqp.start()
        self._amqp.wait_connected(wait)

    def shutdown(self) -> None:
        self._publisher.stop(self._timeout)
        self._amqp.stop(self._timeout)

    # --- the port ---

    async def publish(self, request: InferenceRequest) -> None:
        body, properties = encode(request)
        if not self._publisher.connected:
            if not self._amqp.connected:
                raise QueueUnavailable(f"the broker is unreachable: {self._amqp.last_error}")
            self._publisher.start()
            if not self._publisher.ever_connected:  # the first publishes give it time to connect
                await asyncio.to_thread(self._publisher.wait_connected, self._timeout)
        try:
            await asyncio.wait_for(self._publisher.publish(self._name, body, properties), self._timeout)
        except UnroutableMessage:
            log.warning("the queue %s did not exist; declaring it again", self._name)
            await self._call(self._declare, "declare the queue")  # ready for the client's retry
            raise
        except TimeoutError as exc:
            raise QueueUnavailable(
                f"the broker did not confirm the message within {self._timeout:g} s"
            ) from exc

    async def receive(self, max_count: int, fill_wait: float, idle_wait: float) -> list[Delivery]:
        await self._consume(self._name)
        return await self._take(self._deliveries, max_count, fill_wait, idle_wait)

    async def ack(self, delivery: Delivery) -> None:
        await self._settle(delivery.tag, lambda channel, tag: channel.basic_ack(tag))

    async def reject(self, delivery: Delivery, requeue: bool) -> None:
        await self._settle(delivery.tag, lambda channel, tag: channel.basic_nack(tag, requeue=requeue))

    async def receive_dead_letters(self, max_count: int, wait: float) -> list[DeadLetter]:
        await self._consume(self._dead_name)
        return await self._take(self._dead_letters, max_count, 0.0, wait)

    async def release_dead_letter(self, letter: DeadLetter, requeue: bool) -> None:
        if requeue:
            await self._settle(letter.tag, lambda channel, tag: channel.basic_nack(tag, requeue=True))
        else:
            await self._settle(letter.tag, lambda channel, tag: channel.basic_ack(tag))

    async def close(self) -> None:
        with self._lock:
            self._wanted.clear()
        if self._amqp.connected:
            await self._call(self._close_consumer, "stop consuming")

    async def ping(self) -> None:
        if not self._amqp.connected:
            raise QueueUnavailable(f"the broker is unreachable: {self._amqp.last_error}")

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

    async def _take(
        self, inbox: deque[Item], max_count: int, fill_wait: float, idle_wait: float
    ) -> list[Item]:
        deadline = time.monotonic() + idle_wait
        while (remaining := deadline - time.monotonic()) > 0:
            if await self._arrivals.wait_for(lambda: bool(inbox) or None, remaining) is None:
                break
            await self._arrivals.wait_for(lambda: len(inbox) >= max_count or None, fill_wait)
            with self._lock:
                taken = [inbox.popleft() for _ in range(min(max_count, len(inbox)))]
            if taken:  # else the connection dropped them: wait on
                return taken
        return []

    async def _settle(self, tag: str, action: Callable[[BlockingChannel, int], None]) -> None:
        # Settlements made together (a worker acknowledges its batch at once) share one trip to
        # the connection's thread: the first one queued schedules it, the rest ride along.
        settled: Future[None] = Future()
        with self._lock:
            self._unsettled.append((tag, action, settled))
            first = len(self._unsettled) == 1
        if first:
            scheduled = self._amqp.call(self._settle_queued)
            scheduled.add_done_callback(self._fail_unsettled_if_not_run)
        try:
            await asyncio.wait_for(asyncio.wrap_future(settled), self._timeout)
        except TimeoutError as exc:
            raise QueueUnavailable(
                f"the broker did not settle a delivery within {self._timeout:g} s"
            ) from exc

    def _fail_unsettled_if_not_run(self, scheduled: Future[None]) -> None:
        error = scheduled.exception()
        if error is None:
            return
        with self._lock:
            unsettled, self._unsettled = self._unsettled, []
        for _, _, settled in unsettled:
            if not settled.done():
                settled.set_exception(error)

    # --- on the connection's thread ---

    def _on_connect(self, connection: BlockingConnection) -> None:
        self._declarer = connection.channel()
        self._topology.declare(self._declarer)
        self._consumer, self._consuming = None, set()
        with self._lock:
            wanted = sorted(self._wanted)
        for queue in wanted:
            self._start_consuming(queue, connection)

    def _settle_queued(self) -> None:
        with self._lock:
            unsettled, self._unsettled = self._unsettled, []
        for tag, action, settled in unsettled:
            generation, _, delivery_tag = tag.partition(".")
            if self._consumer is None or int(generation) != self._generation:
                # That channel is gone, and the broker has requeued the message already.
                log.debug("delivery %s outlived its channel; the broker redelivers it", tag)
            else:
                try:
                    action(self._consumer, int(delivery_tag))
                except BaseException as exc:
                    for _, _, unsent in unsettled:
                        if not unsent.done():
                            unsent.set_exception(QueueUnavailable(f"the broker connection failed: {exc!r}"))
                    raise  # a failed channel: the connection's thread reconnects
            settled.set_result(None)

    def _declare(self) -> None:
        if self._declarer is not None:
            self._topology.declare(self._declarer)

    def _on_disconnect(self) -> None:
        self._declarer = self._consumer = None
        with self._lock:
            self._deliveries.clear()  # the broker requeues them all
            self._dead_letters.clear()
            self._arrivals.fire()

    def _start_consuming(self, queue: str, connection: BlockingConnection | None = None) -> None:
        if self._consumer is not None and queue in self._consuming:
            return
        if self._consumer is None:
            if connection is None:
                assert self._declarer is not None
                connection = self._declarer.connection
            self._consumer = connection.channel()
            self._generation += 1
        self._consumer.basic_qos(prefetch_count=self._prefetch)  # per consumer, for those after it
        on_message = self._on_delivery if queue == self._name else self._on_dead_letter
        self._consumer.basic_consume(queue, on_message)
        self._consuming.add(queue)

    def _close_consumer(self) -> None:
        if self._consumer is not None and self._consumer.is_open:
            self._consumer.close()  # the broker requeues what it had delivered on it
        self._consumer, self._consuming = None, set()
        with self._lock:
            self._deliveries.clear()
            self._dead_letters.clear()

    def _on_delivery(
        self, channel: BlockingChannel, method: Any, properties: pika.BasicProperties, body: bytes
    ) -> None:
        try:
            request = decode(properties, body)
        except MalformedMessage as exc:
            log.warning("dead-lettering an unreadable message %r: %s", properties.message_id, exc)
            channel.basic_nack(method.delivery_tag, requeue=False)
            return
        tag = f"{self._generation}.{method.delivery_tag}"
        delivery = Delivery(tag, request, delivery_attempt(properties))
        with self._lock:
            self._deliveries.append(delivery)
            self._arrivals.fire()

    def _on_dead_letter(
        self, channel: BlockingChannel, method: Any, properties: pika.BasicProperties, body: bytes
    ) -> None:
        letter = DeadLetter(
            f"{self._generation}.{method.delivery_tag}",
            request_id_of(properties),
            dead_letter_failure(properties, body, self._topology.delivery_limit),
        )
        with self._lock:
            self._dead_letters.append(letter)
            self._arrivals.fire()
