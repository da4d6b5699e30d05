"""The operator's side of the parked dead letters on RabbitMQ (`inference dlq`).

Each call is short and rare, so it opens a connection of its own, in a thread. Reading takes
every parked letter with basic_get and gives them all back by closing the channel: the parked
queue is a classic one, where that counts nothing and keeps their order (see `QueueTopology`).
Two operators listing at once each see the letters the other does not hold at that moment.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TypeVar

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from adapters.rabbitmq.connection import connection_parameters
from adapters.rabbitmq.parking import parked_letter, requeued_properties
from adapters.rabbitmq.topology import QueueTopology
from inference.clock import utc_now
from inference.domain import RequestId
from inference.errors import Overloaded, QueueUnavailable
from inference.ports import DeadLetterAdmin, ParkedLetter

T = TypeVar("T")
_Message = tuple[int, pika.BasicProperties, bytes]


class RabbitMQDeadLetterAdmin(DeadLetterAdmin):
    def __init__(self, url: str, topology: QueueTopology, timeout: float) -> None:
        """`timeout` bounds every broker call (a confirm included)."""
        self._parameters = connection_parameters(url, timeout, "inference-dlq")
        self._topology = topology

    async def parked(self) -> list[ParkedLetter]:
        def read(channel: BlockingChannel) -> list[ParkedLetter]:
            return [parked_letter(properties) for _, properties, _ in self._take_all(channel)]

        return await self._run(read)

    async def requeue(self, request_ids: Collection[RequestId]) -> list[RequestId]:
        wanted = set(request_ids)

        def requeue(channel: BlockingChannel) -> list[RequestId]:
            requeued: list[RequestId] = []
            for tag, properties, body in self._take_all(channel):
                request_id = parked_letter(properties).request_id
                if request_id is None or request_id not in wanted:
                    continue
                try:
                    channel.basic_publish(
                        "", self._topology.name, body, requeued_properties(properties), mandatory=True
                    )
                except pika.exceptions.NackError as exc:  # the queue is full (reject-publish)
                    raise Overloaded(f"the queue {self._topology.name} is full") from exc
                channel.basic_ack(tag)  # confirmed in the queue: the parked copy can go
                requeued.append(request_id)
                wanted.discard(request_id)  # parked twice (see the consumer): requeued once
            return requeued

        return await self._run(requeue)

    async def purge(self, older_than: float | None) -> int:
        def purge(channel: BlockingChannel) -> int:
            if older_than is None:
                return int(channel.queue_purge(self._topology.parked_name).method.message_count)
            cutoff = utc_now() - timedelta(seconds=older_than)
            purged = 0
            for tag, properties, _ in self._take_all(channel):
                if parked_letter(properties).parked_at < cutoff:
                    channel.basic_ack(tag)
                    purged += 1
            return purged

        return await self._run(purge)

    def _take_all(self, channel: BlockingChannel) -> Iterator[_Message]:
        """Every parked letter, held unacknowledged: what is not acknowledged goes back, in its
        place, when the channel closes. Bounded by the queue's own bound."""
        for _ in range(self._topology.max_length):
            method, properties, body = channel.basic_get(self._topology.parked_name, auto_ack=False)
            if method is None:
                return
            yield method.delivery_tag, properties, body

    async def _run(self, work: Callable[[BlockingChannel], T]) -> T:
        return await asyncio.to_thread(self._in_a_channel, work)

    def _in_a_channel(self, work: Callable[[BlockingChannel], T]) -> T:
        with self._channel() as channel:
            return work(channel)

    @contextmanager
    def _channel(self) -> Iterator[Any]:
        try:
            connection = pika.BlockingConnection(self._parameters)
        except pika.exceptions.AMQPError as exc:
            raise QueueUnavailable(f"the broker is unreachable: {exc!r}") from exc
        try:
            channel = connection.channel()
            self._topology.declare(channel)
            channel.confirm_delivery()
            yield channel
        except pika.exceptions.AMQPError as exc:
            raise QueueUnavailable(f"the broker failed: {exc!r}") from exc
        finally:
            if connection.is_open:
                connection.close()  # whatever this call did not acknowledge goes back
