"""What each queue tells the metrics of its depth: the count of messages waiting (ready)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.contract.test_queue_contract import delete_queues
from tests.queues import RabbitMQQueue, memory_queue
from tests.servers import RABBITMQ_URL, require_server
from tests.stubs import a_request


def test_the_memory_queue_counts_ready_and_unacked_messages_apart() -> None:
    queue = memory_queue()

    async def scenario() -> None:
        for _ in range(3):
            await queue.publish(a_request())
        await queue.receive(max_count=1, fill_wait=0, idle_wait=1)

    asyncio.run(scenario())
    assert (queue.ready_count(), queue.unacked_count()) == (2, 1)


@pytest.mark.server
def test_a_rabbitmq_consumer_reads_the_ready_count_from_the_broker() -> None:
    require_server("RabbitMQ", RABBITMQ_URL)
    name = f"test.depth.{uuid.uuid4().hex}"
    queue = RabbitMQQueue(RABBITMQ_URL, name, timeout=5.0)
    queue.start(wait=10.0)
    try:
        assert queue.consumer.ready_count() == 0

        async def publish() -> None:
            for _ in range(3):
                await queue.publish(a_request())

        asyncio.run(publish())
        assert queue.consumer.ready_count() == 3
    finally:
        queue.shutdown()
        delete_queues(name)
