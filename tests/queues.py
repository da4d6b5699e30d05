"""Adapters built with the service's default settings, and a test-side pairing of both queue roles.

Adapters take every argument (settings own the defaults), so tests build them here, overriding
only what a test must control.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from adapters.memory import MemoryQueue, MemoryResultStore
from adapters.rabbitmq import QueueTopology, RabbitMQConsumer, RabbitMQPublisher
from adapters.redis import RedisResultStore
from entrypoints.settings import QueueSettings, StoreSettings, WorkerSettings
from inference.domain import InferenceRequest, RequestId, RequestRecord
from inference.ports import Consumer, DeadLetter, DeadLetters, Delivery, Publisher, ResultStore
from inference.transitions import Transition

QUEUE = QueueSettings()
STORE = StoreSettings()
WORKER = WorkerSettings()


class Queue(Publisher, Consumer, DeadLetters, Protocol):
    """Every role of the queue at once: what the queue suites drive (an API and a worker
    between them)."""


def memory_queue(**overrides: Any) -> MemoryQueue:
    options: dict[str, Any] = {
        "max_length": QUEUE.max_length,
        "max_bytes": QUEUE.max_bytes,
        "max_attempts": WORKER.max_attempts,
        "max_parked": QUEUE.max_parked,
    }
    return MemoryQueue(**(options | overrides))


def memory_store(**overrides: Any) -> MemoryResultStore:
    options: dict[str, Any] = {"ttl": STORE.ttl_seconds, "max_records": STORE.max_records}
    return MemoryResultStore(**(options | overrides))


async def transition(store: ResultStore, request_id: RequestId, change: Transition) -> RequestRecord:
    """One transition; raises what the store answers for it (InvalidTransition, UnknownRequest)."""
    [result] = await store.transition([(request_id, change)])
    if isinstance(result, RequestRecord):
        return result
    raise result


class RabbitMQQueue(Publisher, Consumer, DeadLetters):
    """A RabbitMQPublisher and a RabbitMQConsumer on one queue, so that a suite written for a
    queue drives both roles, as an API and a worker do between them."""

    def __init__(
        self,
        url: str,
        name: str,
        max_length: int = QUEUE.max_length,
        max_bytes: int | None = None,
        max_attempts: int = WORKER.max_attempts,
        prefetch: int = WORKER.max_batch_size * WORKER.prefetch_batches,
        timeout: float = QUEUE.timeout_seconds,
        client_name: str = "test",
    ) -> None:
        topology = QueueTopology(name, max_length, max_bytes, max_attempts, QUEUE.max_parked)
        self.publisher = RabbitMQPublisher(url, topology, timeout, client_name=f"{client_name}-publisher")
        self.consumer = RabbitMQConsumer(
            url, topology, prefetch, timeout, client_name=f"{client_name}-consumer"
        )
        self._amqp = self.consumer._amqp  # the connection whose heartbeats tests watch

    def start(self, wait: float) -> None:
        self.publisher.start(wait)
        self.consumer.start(wait)

    def shutdown(self) -> None:
        self.publisher.shutdown()
        self.consumer.shutdown()

    async def publish(self, request: InferenceRequest) -> None:
        await self.publisher.publish(request)

    async def ping(self) -> None:
        await self.publisher.ping()

    async def receive(self, max_count: int, fill_wait: float, idle_wait: float) -> list[Delivery]:
        return await self.consumer.receive(max_count, fill_wait, idle_wait)

    async def ack(self, delivery: Delivery) -> None:
        await self.consumer.ack(delivery)

    async def ack_all(self, deliveries: Sequence[Delivery]) -> None:
        await self.consumer.ack_all(deliveries)

    async def reject(self, delivery: Delivery, requeue: bool) -> None:
        await self.consumer.reject(delivery, requeue)

    async def close(self) -> None:
        await self.consumer.close()

    async def receive_dead_letters(self, max_count: int, wait: float) -> list[DeadLetter]:
        return await self.consumer.receive_dead_letters(max_count, wait)

    async def release_dead_letter(self, letter: DeadLetter, requeue: bool) -> None:
        await self.consumer.release_dead_letter(letter, requeue)


def redis_store(url: str, **overrides: Any) -> RedisResultStore:
    options: dict[str, Any] = {
        "ttl": STORE.ttl_seconds,
        "key_prefix": STORE.key_prefix,
        "timeout": STORE.timeout_seconds,
    }
    return RedisResultStore(url, **(options | overrides))
