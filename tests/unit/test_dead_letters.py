"""SettleDeadLetters on the memory adapters: what the queue gives up on ends `failed`."""

from __future__ import annotations

import asyncio

from adapters.memory import MemoryQueue, MemoryResultStore
from inference.domain import RequestId, RequestStatus
from inference.transitions import Start, Succeed
from inference.use_cases.dead_letters import DeadLetterReport, SettleDeadLetters
from tests.images import png_bytes
from tests.queues import memory_queue, memory_store, transition
from tests.stubs import FailingResultStore, a_prediction
from tests.unit.test_services import clock, receive_all, submit_request

PROMPT = 1.0


async def dead_letter_one(queue: MemoryQueue, store: MemoryResultStore, requeue: bool = False) -> RequestId:
    """Submit a request, then have the queue give up on it (rejected, or past its limit)."""
    record = await submit_request(queue, store)(png_bytes(), top_k=1)
    while deliveries := await receive_all(queue):
        await queue.reject(deliveries[0], requeue=requeue)
        if not requeue:
            break
    return record.request_id


def test_the_request_of_a_rejected_message_ends_failed_with_a_clear_code() -> None:
    async def scenario() -> None:
        queue, store = memory_queue(), memory_store()
        request_id = await dead_letter_one(queue, store)

        report = await SettleDeadLetters(queue, store, clock)(max_count=10, wait=PROMPT)

        record = await store.get(request_id)
        assert report == DeadLetterReport(released=1)
        assert (record.status, record.failure and record.failure.code) == (RequestStatus.FAILED, "rejected")
        assert await queue.receive_dead_letters(max_count=10, wait=0.1) == []

    asyncio.run(scenario())


def test_a_request_redelivered_past_the_queue_limit_fails_as_delivery_limit_exceeded() -> None:
    async def scenario() -> None:
        queue, store = memory_queue(max_attempts=2), memory_store()
        request_id = await dead_letter_one(queue, store, requeue=True)

        await SettleDeadLetters(queue, store, clock)(max_count=10, wait=PROMPT)

        record = await store.get(request_id)
        assert record.failure is not None
        assert record.failure.code == "delivery_limit_exceeded"
        assert "3 times" in record.failure.message

    asyncio.run(scenario())


def test_a_dead_letter_of_a_finished_request_leaves_its_result_alone() -> None:
    async def scenario() -> None:
        queue, store = memory_queue(), memory_store()
        request_id = await dead_letter_one(queue, store)
        await transition(store, request_id, Start(clock()))
        done = await transition(store, request_id, Succeed(a_prediction(), clock()))

        report = await SettleDeadLetters(queue, store, clock)(max_count=10, wait=PROMPT)

        assert report == DeadLetterReport(released=1)
        assert await store.get(request_id) == done

    asyncio.run(scenario())


def test_a_dead_letter_waits_in_its_queue_while_the_store_is_down() -> None:
    async def scenario() -> None:
        queue, store = memory_queue(), FailingResultStore()
        request_id = await dead_letter_one(queue, store)
        settle = SettleDeadLetters(queue, store, clock)

        store.down = True
        assert await settle(max_count=10, wait=PROMPT) == DeadLetterReport(requeued=1)
        store.down = False
        assert await settle(max_count=10, wait=PROMPT) == DeadLetterReport(released=1)

        assert (await store.get(request_id)).status is RequestStatus.FAILED

    asyncio.run(scenario())
