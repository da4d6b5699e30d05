"""The Queue contract, run against each adapter; plus what only the memory adapter promises."""

from __future__ import annotations

import asyncio

import pytest

from adapters.memory import MemoryQueue
from inference.errors import Overloaded
from tests.contract.queue_contract import PROMPT, QueueContract, QueueHarness, ids
from tests.stubs import a_request

MEMORY_MAX_LENGTH = 20  # above what any contract test keeps queued, except the bound's own


def memory_harness() -> QueueHarness:
    # One instance is safe to share across threads and event loops, so it is its own peer.
    queue = MemoryQueue(max_length=MEMORY_MAX_LENGTH, delivery_limit=3)
    return QueueHarness(queue=queue, connect=lambda: queue, max_length=MEMORY_MAX_LENGTH)


class TestQueueContract(QueueContract):
    # A "rabbitmq" parameter joins here, skipping with a reason when no broker answers.
    @pytest.fixture(params=[pytest.param(memory_harness, id="memory")])
    def subject(self, request: pytest.FixtureRequest) -> QueueHarness:
        harness: QueueHarness = request.param()
        return harness


# --- Memory adapter only: its configuration and its introspection. ---


def test_the_memory_queue_dead_letters_a_message_rejected_past_its_delivery_limit() -> None:
    async def scenario() -> None:
        queue = MemoryQueue(delivery_limit=2)
        request = a_request()
        await queue.publish(request)
        for attempt in (1, 2):
            [delivery] = await queue.receive(max_count=1, fill_wait=0.0, idle_wait=PROMPT)
            assert delivery.attempt == attempt
            await queue.reject(delivery, requeue=True)
        assert await queue.receive(max_count=1, fill_wait=0.0, idle_wait=0.1) == []
        assert [r.id for r in queue.dead_letters()] == [request.id]
        assert queue.depth == 0

    asyncio.run(scenario())


def test_the_memory_queue_dead_letters_what_is_rejected_without_requeue() -> None:
    async def scenario() -> None:
        queue = MemoryQueue()
        request = a_request()
        await queue.publish(request)
        [delivery] = await queue.receive(max_count=1, fill_wait=0.0, idle_wait=PROMPT)
        await queue.reject(delivery, requeue=False)
        assert [r.id for r in queue.dead_letters()] == [request.id]

    asyncio.run(scenario())


def test_the_memory_queue_depth_counts_ready_and_unacknowledged_messages() -> None:
    async def scenario() -> None:
        queue = MemoryQueue()
        for _ in range(3):
            await queue.publish(a_request())
        batch = await queue.receive(max_count=2, fill_wait=0.0, idle_wait=PROMPT)
        assert queue.depth == 3
        await queue.ack(batch[0])
        assert queue.depth == 2

    asyncio.run(scenario())


def test_unacknowledged_deliveries_count_against_the_memory_queue_bound() -> None:
    async def scenario() -> None:
        queue = MemoryQueue(max_length=2)
        await queue.publish(a_request())
        await queue.publish(a_request())
        await queue.receive(max_count=2, fill_wait=0.0, idle_wait=PROMPT)
        with pytest.raises(Overloaded):
            await queue.publish(a_request())

    asyncio.run(scenario())


def test_acknowledging_twice_is_harmless() -> None:
    async def scenario() -> None:
        queue = MemoryQueue()
        first, second = a_request(), a_request()
        await queue.publish(first)
        await queue.publish(second)
        [delivery] = await queue.receive(max_count=1, fill_wait=0.0, idle_wait=PROMPT)
        await queue.ack(delivery)
        await queue.ack(delivery)
        assert ids(await queue.receive(max_count=5, fill_wait=0.0, idle_wait=PROMPT)) == [second.id]

    asyncio.run(scenario())
