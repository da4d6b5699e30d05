"""The DeadLetterAdmin port's contract (and the parking half of DeadLetters), written once.

A test module subclasses DeadLetterAdminContract and provides a `subject` fixture (an
AdminHarness): a queue playing every role and the admin over the same parked letters.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from inference.domain import InferenceRequest, RequestId
from inference.ports import DeadLetterAdmin
from tests.queues import Queue
from tests.stubs import a_request

PROMPT = 2.0


@dataclass
class AdminHarness:
    queue: Queue
    admin: DeadLetterAdmin
    close: Callable[[], None] = lambda: None


async def park(queue: Queue, request: InferenceRequest) -> None:
    """Publish `request`, reject it for good, and settle its dead letter: parked."""
    await queue.publish(request)
    [delivery] = await queue.receive(max_count=1, fill_wait=0.0, idle_wait=PROMPT)
    await queue.reject(delivery, requeue=False)
    [letter] = await queue.receive_dead_letters(max_count=1, wait=PROMPT)
    assert letter.request_id == request.id
    await queue.release_dead_letter(letter, requeue=False)


def parked_ids(admin: DeadLetterAdmin) -> list[RequestId | None]:
    return [letter.request_id for letter in asyncio.run(admin.parked())]


class DeadLetterAdminContract:
    def test_nothing_is_parked_at_first(self, subject: AdminHarness) -> None:
        assert asyncio.run(subject.admin.parked()) == []

    def test_a_settled_dead_letter_is_parked_with_its_failure(self, subject: AdminHarness) -> None:
        request, before = a_request(), datetime.now(UTC) - timedelta(seconds=1)
        asyncio.run(park(subject.queue, request))

        [letter] = asyncio.run(subject.admin.parked())
        assert letter.request_id == request.id
        assert letter.failure.code == "rejected"
        assert before <= letter.parked_at <= datetime.now(UTC) + timedelta(seconds=1)

    def test_parked_letters_are_listed_oldest_first_and_listing_takes_none_away(
        self, subject: AdminHarness
    ) -> None:
        requests = [a_request() for _ in range(3)]
        for request in requests:
            asyncio.run(park(subject.queue, request))
        expected = [request.id for request in requests]
        assert parked_ids(subject.admin) == expected
        assert parked_ids(subject.admin) == expected

    def test_a_parked_letter_is_never_received_as_a_dead_letter_again(self, subject: AdminHarness) -> None:
        asyncio.run(park(subject.queue, a_request()))
        assert asyncio.run(subject.queue.receive_dead_letters(max_count=1, wait=0.5)) == []

    def test_a_dead_letter_given_back_is_not_parked(self, subject: AdminHarness) -> None:
        async def scenario() -> None:
            await subject.queue.publish(a_request())
            [delivery] = await subject.queue.receive(max_count=1, fill_wait=0.0, idle_wait=PROMPT)
            await subject.queue.reject(delivery, requeue=False)
            [letter] = await subject.queue.receive_dead_letters(max_count=1, wait=PROMPT)
            await subject.queue.release_dead_letter(letter, requeue=True)

        asyncio.run(scenario())
        assert parked_ids(subject.admin) == []

    def test_a_requeued_letter_comes_back_as_it_was_submitted_at_its_first_attempt(
        self, subject: AdminHarness
    ) -> None:
        request = a_request(top_k=7)
        asyncio.run(park(subject.queue, request))
        for _ in range(3):  # listing counts no attempt
            asyncio.run(subject.admin.parked())

        assert asyncio.run(subject.admin.requeue([request.id])) == [request.id]

        [delivery] = asyncio.run(subject.queue.receive(max_count=1, fill_wait=0.0, idle_wait=PROMPT))
        assert delivery.request == request
        assert delivery.attempt == 1
        assert parked_ids(subject.admin) == []

    def test_requeue_takes_only_the_ids_asked_for_and_skips_those_not_parked(
        self, subject: AdminHarness
    ) -> None:
        first, second, third = a_request(), a_request(), a_request()
        for request in (first, second, third):
            asyncio.run(park(subject.queue, request))

        requeued = asyncio.run(subject.admin.requeue([third.id, first.id, RequestId.new()]))

        assert requeued == [first.id, third.id]
        assert parked_ids(subject.admin) == [second.id]

    def test_purge_removes_every_parked_letter_or_only_the_older_ones(self, subject: AdminHarness) -> None:
        for _ in range(2):
            asyncio.run(park(subject.queue, a_request()))
        assert asyncio.run(subject.admin.purge(older_than=3600.0)) == 0
        assert len(parked_ids(subject.admin)) == 2
        time.sleep(0.05)
        assert asyncio.run(subject.admin.purge(older_than=0.0)) == 2
        asyncio.run(park(subject.queue, a_request()))
        assert asyncio.run(subject.admin.purge(older_than=None)) == 1
        assert parked_ids(subject.admin) == []
