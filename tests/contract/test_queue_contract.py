"""The Queue contract, run against each adapter; plus what only the memory adapter promises."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import closing

import pika
import pytest

from inference.errors import Overloaded
from tests.contract.queue_contract import PROMPT, QueueContract, QueueHarness, ids
from tests.queues import RabbitMQQueue, memory_queue
from tests.servers import RABBITMQ_URL, require_server
from tests.stubs import a_request

MEMORY_MAX_LENGTH = 20  # above what any contract test keeps queued, except the bound's own
RABBITMQ_MAX_LENGTH = 20


def memory_harness() -> QueueHarness:
    # One instance is safe to share across threads and event loops, so it is its own peer.
    queue = memory_queue(max_length=MEMORY_MAX_LENGTH, max_attempts=99)
    return QueueHarness(queue=queue, connect=lambda: queue, max_length=MEMORY_MAX_LENGTH)


def rabbitmq_harness() -> QueueHarness:
    require_server("RabbitMQ", RABBITMQ_URL)
    name = f"test.contract.{uuid.uuid4().hex}"  # runs never share a queue
    clients: list[RabbitMQQueue] = []

    def connect() -> RabbitMQQueue:
        # Prefetch above what the model-based test keeps unacknowledged (10).
        client = RabbitMQQueue(
            RABBITMQ_URL, name, max_length=RABBITMQ_MAX_LENGTH, max_attempts=99, prefetch=16, timeout=5.0
        )
        clients.append(client)
        client.start(wait=10.0)
        return client

    def close() -> None:
        for client in clients:
            client.shutdown()
        delete_queues(name)

    return QueueHarness(queue=connect(), connect=connect, max_length=RABBITMQ_MAX_LENGTH, close=close)


def delete_queues(name: str) -> None:
    with closing(pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))) as connection:
        channel = connection.channel()
        channel.queue_delete(name)
        channel.queue_delete(f"{name}.dead")
        channel.queue_delete(f"{name}.parked")


class TestQueueContract(QueueContract):
    @pytest.fixture(
        params=[
            pytest.param(memory_harness, id="memory"),
            pytest.param(rabbitmq_harness, id="rabbitmq", marks=pytest.mark.server),
        ]
    )
    def subject(self, request: pytest.FixtureRequest) -> Iterator[QueueHarness]:
        harness: QueueHarness = request.param()
        yield harness
        harness.close()


# --- Memory adapter only: its configuration and its introspection. ---


def test_the_memory_queue_dead_letters_a_message_rejected_past_its_delivery_limit() -> None:
    async def scenario() -> None:
        queue = memory_queue(max_attempts=1)
        request = a_request()
        await queue.publish(request)
        for attempt in (1, 2):
            [delivery] = await queue.receive(max_count=1, fill_wait=0.0, idle_wait=PROMPT)
            assert delivery.attempt == attempt
            await queue.reject(delivery, requeue=True)
        assert await queue.receive(max_count=1, fill_wait=0.0, idle_wait=0.1) == []
        [letter] = await queue.receive_dead_letters(max_count=5, wait=PROMPT)
        assert (letter.request_id, letter.failure.code) == (request.id, "delivery_limit_exceeded")
        assert queue.depth == 0

    asyncio.run(scenario())


def test_the_memory_queue_depth_counts_ready_and_unacknowledged_messages() -> None:
    async def scenario() -> None:
        queue = memory_queue()
        for _ in range(3):
            await queue.publish(a_request())
        batch = await queue.receive(max_count=2, fill_wait=0.0, idle_wait=PROMPT)
        assert queue.depth == 3
        await queue.ack(batch[0])
        assert queue.depth == 2

    asyncio.run(scenario())


def test_unacknowledged_deliveries_count_against_the_memory_queue_bound() -> None:
    async def scenario() -> None:
        queue = memory_queue(max_length=2)
        await queue.publish(a_request())
        await queue.publish(a_request())
        await queue.receive(max_count=2, fill_wait=0.0, idle_wait=PROMPT)
        with pytest.raises(Overloaded):
            await queue.publish(a_request())

    asyncio.run(scenario())


def test_acknowledging_twice_is_harmless() -> None:
    async def scenario() -> None:
        queue = memory_queue()
        first, second = a_request(), a_request()
        await queue.publish(first)
        await queue.publish(second)
        [delivery] = await queue.receive(max_count=1, fill_wait=0.0, idle_wait=PROMPT)
        await queue.ack(delivery)
        await queue.ack(delivery)
        assert ids(await queue.receive(max_count=5, fill_wait=0.0, idle_wait=PROMPT)) == [second.id]

    asyncio.run(scenario())
