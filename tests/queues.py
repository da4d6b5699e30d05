"""Adapters built with the service's default settings, and a test-side pairing of both queue roles.

Adapters take every argument (settings own the defaults), so tests build them here, overriding
only what a test must control.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, Protocol, TypeVar

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

T = TypeVar("T")


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


class ConsumerLoop:
    """An event loop on a thread of its own, running for a consumer's whole life as a worker's one
    loop does: the consumer's deliveries' connection belongs to the loop that receives (see
    `adapters.rabbitmq.consumer`), and a test that calls `asyncio.run` per step would otherwise
    leave a connection behind on each closed loop, whose prefetched messages wait there, and
    count an attempt, until the next step abandons it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="consumer-loop", daemon=True)
        self._thread.start()

    async def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """`coroutine`'s result, run on this loop (cancelled there if the caller is cancelled)."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self.loop))

    def stop(self, last: Coroutine[Any, Any, None], timeout: float) -> None:
        """Run `last` on the loop (up to `timeout` s), then end the loop."""
        with contextlib.suppress(Exception):  # a broker gone by now: its connection is gone too
            asyncio.run_coroutine_threadsafe(last, self.loop).result(timeout)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()


class RabbitMQQueue(Publisher, Consumer, DeadLetters):
    """A RabbitMQPublisher and a RabbitMQConsumer on one queue, so that a suite written for a
    queue drives both roles, as an API and a worker do between them. The consumer runs on a
    `ConsumerLoop`, as in a worker; the publisher on the caller's loop, as in the API."""

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
        self._timeout = timeout
        self._loop: ConsumerLoop | None = None

    def start(self, wait: float) -> None:
        self.publisher.start(wait)
        self.consumer.start(wait)
        self._loop = ConsumerLoop()

    def shutdown(self) -> None:
        self.publisher.shutdown()
        if self._loop is not None:
            self._loop.stop(self.consumer.aclose(), self._timeout)
            self._loop = None
        self.consumer.shutdown()

    async def publish(self, request: InferenceRequest) -> None:
        await self.publisher.publish(request)

    async def ping(self) -> None:
        await self.publisher.ping()

    async def _on_consumer_loop(self, coroutine: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None, "start() first"
        return await self._loop.run(coroutine)

    async def receive(self, max_count: int, fill_wait: float, idle_wait: float) -> list[Delivery]:
        return await self._on_consumer_loop(self.consumer.receive(max_count, fill_wait, idle_wait))

    async def ack(self, delivery: Delivery) -> None:
        await self._on_consumer_loop(self.consumer.ack(delivery))

    async def ack_all(self, deliveries: Sequence[Delivery]) -> None:
        await self._on_consumer_loop(self.consumer.ack_all(deliveries))

    async def reject(self, delivery: Delivery, requeue: bool) -> None:
        await self._on_consumer_loop(self.consumer.reject(delivery, requeue))

    async def close(self) -> None:
        await self._on_consumer_loop(self.consumer.close())

    async def receive_dead_letters(self, max_count: int, wait: float) -> list[DeadLetter]:
        return await self._on_consumer_loop(self.consumer.receive_dead_letters(max_count, wait))

    async def release_dead_letter(self, letter: DeadLetter, requeue: bool) -> None:
        await self._on_consumer_loop(self.consumer.release_dead_letter(letter, requeue))


def redis_store(url: str, **overrides: Any) -> RedisResultStore:
    options: dict[str, Any] = {
        "ttl": STORE.ttl_seconds,
        "key_prefix": STORE.key_prefix,
        "timeout": STORE.timeout_seconds,
    }
    return RedisResultStore(url, **(options | overrides))
