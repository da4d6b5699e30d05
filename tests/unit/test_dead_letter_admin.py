"""The operator's dead-letter use cases on the memory adapters: parked letters are listed with
their attempts, requeued back to queued (the record first), or purged; the CLI's words for them."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from adapters.memory import MemoryQueue, MemoryResultStore
from entrypoints.cli import build_parser
from inference.domain import InferenceRequest, RequestId, RequestRecord, RequestStatus
from inference.outcomes import Failure
from inference.transitions import Fail, Requeue, Start, Succeed
from inference.use_cases.dead_letter_admin import ListDeadLetters, PurgeDeadLetters, RequeueDeadLetters
from inference.use_cases.dead_letters import SettleDeadLetters
from tests.queues import memory_queue, memory_store, transition
from tests.stubs import a_prediction, a_request
from tests.unit.test_dead_letters import PROMPT, dead_letter_one
from tests.unit.test_services import clock


async def parked_one(queue: MemoryQueue, store: MemoryResultStore) -> RequestId:
    request_id = await dead_letter_one(queue, store)
    await SettleDeadLetters(queue, store, clock)(max_count=10, wait=PROMPT)
    return request_id


def test_a_settled_dead_letter_is_listed_with_its_attempts_and_failure() -> None:
    async def scenario() -> None:
        queue, store = memory_queue(), memory_store()
        request_id = await parked_one(queue, store)

        [listed] = await ListDeadLetters(queue, store)()

        assert listed.letter.request_id == request_id
        assert listed.letter.failure.code == "rejected"
        assert listed.attempts == 0  # rejected before any worker started it
        assert listed.age >= 0

    asyncio.run(scenario())


def test_a_worker_that_ran_out_of_attempts_parks_the_letter_with_the_stored_failure() -> None:
    async def scenario() -> None:
        queue, store = memory_queue(), memory_store()
        request_id = await dead_letter_one(queue, store)
        stored = Failure("delivery_limit_exceeded", "attempted 3 times")
        await transition(store, request_id, Fail(stored, clock()))

        await SettleDeadLetters(queue, store, clock)(max_count=10, wait=PROMPT)

        [letter] = await queue.parked()
        assert letter.failure == stored

    asyncio.run(scenario())


def test_a_requeued_request_is_queued_again_then_delivered_at_its_first_attempt() -> None:
    async def scenario() -> None:
        queue, store = memory_queue(), memory_store()
        request_id = await parked_one(queue, store)

        report = await RequeueDeadLetters(queue, store, clock)(None)

        assert report.requeued == [request_id] and report.skipped == {}
        record = await store.get(request_id)
        assert (record.status, record.requeued, record.attempts) == (RequestStatus.QUEUED, 1, 0)
        [delivery] = await queue.receive(max_count=1, fill_wait=0.0, idle_wait=PROMPT)
        assert (delivery.request.id, delivery.attempt) == (request_id, 1)
        assert await queue.parked() == []

    asyncio.run(scenario())


def test_a_letter_whose_request_did_not_fail_stays_parked_and_says_why() -> None:
    async def scenario() -> None:
        queue, store = memory_queue(), memory_store()
        request_id = await parked_one(queue, store)
        expired = await parked_one(queue, store)
        await store.delete(expired)
        never_parked = RequestId.new()

        report = await RequeueDeadLetters(queue, store, clock)([request_id, expired, never_parked])

        assert report.skipped == {expired: "its record expired", never_parked: "not parked"}
        assert report.requeued == [request_id]
        assert [letter.request_id for letter in await queue.parked()] == [expired]

    asyncio.run(scenario())


def test_a_requeue_whose_publish_failed_is_finished_by_the_next_one() -> None:
    async def scenario() -> None:
        queue, store = memory_queue(), memory_store()
        request_id = await parked_one(queue, store)
        # Half done: the record went back to queued, then the broker refused the publish.
        await transition(store, request_id, Requeue(clock()))

        report = await RequeueDeadLetters(queue, store, clock)([request_id])

        assert report.requeued == [request_id]
        record = await store.get(request_id)
        assert (record.status, record.requeued) == (RequestStatus.QUEUED, 1)  # counted once
        [delivery] = await queue.receive(max_count=1, fill_wait=0.0, idle_wait=PROMPT)
        assert delivery.request.id == request_id

    asyncio.run(scenario())


def test_a_letter_of_a_request_that_succeeded_after_all_stays_parked() -> None:
    async def scenario() -> None:
        queue, store = memory_queue(), memory_store()
        request_id = await parked_one(queue, store)
        await store.delete(request_id)
        await store.add(RequestRecord.queued(a_request_with(request_id)))
        await transition(store, request_id, Start(clock()))
        await transition(store, request_id, Succeed(a_prediction(), clock()))

        report = await RequeueDeadLetters(queue, store, clock)([request_id])

        assert report.skipped == {request_id: "it is succeeded, not failed"}

    asyncio.run(scenario())


def a_request_with(request_id: RequestId) -> InferenceRequest:
    return replace(a_request(), id=request_id)


def test_purge_removes_the_parked_letters() -> None:
    async def scenario() -> None:
        queue, store = memory_queue(), memory_store()
        await parked_one(queue, store)
        assert await PurgeDeadLetters(queue)(older_than=3600) == 0
        assert await PurgeDeadLetters(queue)(older_than=None) == 1
        assert await ListDeadLetters(queue, store)() == []

    asyncio.run(scenario())


def test_the_dead_letter_gauge_counts_the_parked_letters() -> None:
    async def scenario() -> None:
        queue, store = memory_queue(), memory_store()
        await parked_one(queue, store)
        assert queue.dead_letter_count() == 1

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "argv",
    [["dlq", "requeue"], ["dlq", "requeue", "--all", "0b0cbd8e-7a3c-4b5e-9d07-5f5e0c1f6a0e"], ["dlq"]],
)
def test_dlq_refuses_an_incomplete_command(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        build_parser().parse_args(argv)
    assert exit.value.code == 2


def test_dlq_reads_its_actions_and_options() -> None:
    parser = build_parser()
    assert parser.parse_args(["dlq", "list", "--json"]).json is True
    assert parser.parse_args(["dlq", "requeue", "--all"]).all is True
    assert parser.parse_args(["dlq", "purge", "--older-than", "60"]).older_than == 60.0
