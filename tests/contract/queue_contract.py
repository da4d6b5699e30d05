"""The Queue port's contract, written once for every adapter.

A test module subclasses QueueContract and provides a `subject` fixture (a QueueHarness),
parametrized by adapter ("memory" and "rabbitmq"). Every test
starts on an empty queue. Time bounds are generous on purpose: they tell "waited for the
timeout" from "woke up at once", never measure speed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from inference.domain import InferenceRequest, RequestId
from inference.errors import Overloaded
from inference.ports import DeadLetter, Delivery
from tests.queues import Queue
from tests.stubs import a_request, in_another_thread

# Long enough that a test finishing before it proves a wake-up, not a timeout.
LONG_WAIT = 10.0
PROMPT = 2.0


@dataclass(frozen=True)
class QueueHarness:
    """How the contract reaches one adapter.

    `connect` opens another client on the same queue, usable from another thread and event
    loop (another process, in production); an adapter safe to share may return `queue` itself.
    `max_length` is the bound the adapter was configured with, None if it has none. `close`
    releases every client the harness opened and whatever it created on a server.
    """

    queue: Queue
    connect: Callable[[], Queue]
    max_length: int | None = None
    close: Callable[[], None] = lambda: None


def ids(deliveries: list[Delivery]) -> list[RequestId]:
    return [d.request.id for d in deliveries]


async def drain(queue: Queue, idle_wait: float = 0.2, expecting: int = 0) -> list[Delivery]:
    """Everything ready now, acknowledged: waits up to PROMPT for each of the first `expecting`
    (a broker's messages take a moment to reach a new consumer), then `idle_wait` for more."""
    taken: list[Delivery] = []
    while batch := await queue.receive(
        max_count=50, fill_wait=0.0, idle_wait=PROMPT if len(taken) < expecting else idle_wait
    ):
        for delivery in batch:
            await queue.ack(delivery)
        taken += batch
    return taken


async def a_dead_letter(queue: Queue) -> tuple[InferenceRequest, DeadLetter]:
    """Publish a request, receive it, reject it for good: its dead letter, received."""
    request = a_request()
    await queue.publish(request)
    [delivery] = await queue.receive(max_count=1, fill_wait=0.0, idle_wait=PROMPT)
    await queue.reject(delivery, requeue=False)
    [letter] = await queue.receive_dead_letters(max_count=5, wait=PROMPT)
    return request, letter


class QueueContract:
    @pytest.fixture
    def queue(self, subject: QueueHarness) -> Queue:
        return subject.queue

    def test_no_sequence_of_operations_loses_or_duplicates_a_request(self, queue: Queue) -> None:
        check_against_the_model(queue)

    def test_a_published_request_is_received_intact_on_its_first_attempt(self, queue: Queue) -> None:
        async def scenario() -> None:
            request = a_request(top_k=4)
            await queue.publish(request)
            [delivery] = await queue.receive(max_count=10, fill_wait=0.0, idle_wait=PROMPT)
            assert delivery.request == request
            assert delivery.attempt == 1

        asyncio.run(scenario())

    def test_a_request_s_trace_context_travels_with_it_and_none_stays_none(self, queue: Queue) -> None:
        async def scenario() -> None:
            traced = replace(a_request(), traceparent=f"00-{'4b' * 16}-{'00f0' * 4}-01")
            untraced = a_request()
            await queue.publish(traced)
            await queue.publish(untraced)
            deliveries = await drain(queue, expecting=2)
            assert [d.request.traceparent for d in deliveries] == [traced.traceparent, None]

        asyncio.run(scenario())

    def test_receive_returns_at_most_max_count_deliveries(self, queue: Queue) -> None:
        async def scenario() -> None:
            for _ in range(5):
                await queue.publish(a_request())
            first = await queue.receive(max_count=3, fill_wait=LONG_WAIT, idle_wait=PROMPT)
            rest = await queue.receive(max_count=3, fill_wait=0.3, idle_wait=PROMPT)
            assert (len(first), len(rest)) == (3, 2)

        asyncio.run(scenario())

    def test_receive_on_an_empty_queue_returns_nothing_after_the_idle_wait(self, queue: Queue) -> None:
        async def scenario() -> None:
            started = time.monotonic()
            assert await queue.receive(max_count=5, fill_wait=0.0, idle_wait=0.3) == []
            elapsed = time.monotonic() - started
            assert 0.25 <= elapsed < PROMPT

        asyncio.run(scenario())

    def test_receive_returns_early_once_max_count_deliveries_are_ready(self, queue: Queue) -> None:
        async def scenario() -> None:
            for _ in range(3):
                await queue.publish(a_request())
            started = time.monotonic()
            batch = await queue.receive(max_count=3, fill_wait=LONG_WAIT, idle_wait=LONG_WAIT)
            assert len(batch) == 3
            assert time.monotonic() - started < PROMPT

        asyncio.run(scenario())

    def test_receive_waits_at_most_about_fill_wait_for_a_batch_to_fill(self, queue: Queue) -> None:
        async def scenario() -> None:
            await queue.publish(a_request())
            started = time.monotonic()
            batch = await queue.receive(max_count=10, fill_wait=0.3, idle_wait=LONG_WAIT)
            assert len(batch) == 1
            assert time.monotonic() - started < PROMPT + 0.3

        asyncio.run(scenario())

    def test_receive_gathers_what_arrives_during_fill_wait(self, queue: Queue) -> None:
        async def scenario() -> None:
            first, second = a_request(), a_request()
            await queue.publish(first)

            async def publish_later() -> None:
                await asyncio.sleep(0.1)
                await queue.publish(second)

            batch, _ = await asyncio.gather(
                queue.receive(max_count=2, fill_wait=LONG_WAIT, idle_wait=LONG_WAIT), publish_later()
            )
            assert ids(batch) == [first.id, second.id]

        asyncio.run(scenario())

    def test_deliveries_come_out_in_the_order_they_were_published(self, queue: Queue) -> None:
        async def scenario() -> None:
            requests = [a_request() for _ in range(6)]
            for request in requests:
                await queue.publish(request)
            received: list[Delivery] = []
            while len(received) < len(requests):
                batch = await queue.receive(max_count=4, fill_wait=0.0, idle_wait=PROMPT)
                assert batch, "the queue lost messages"
                received += batch
            assert ids(received) == [r.id for r in requests]

        asyncio.run(scenario())

    def test_an_acknowledged_delivery_is_gone_for_good(self, subject: QueueHarness, queue: Queue) -> None:
        async def scenario() -> None:
            await queue.publish(a_request())
            [delivery] = await queue.receive(max_count=1, fill_wait=0.0, idle_wait=PROMPT)
            await queue.ack(delivery)
            await queue.close()  # even a consumer restart does not bring it back
            assert await subject.connect().receive(max_count=1, fill_wait=0.0, idle_wait=0.3) == []

        asyncio.run(scenario())

    def test_a_delivery_rejected_with_requeue_comes_back_as_a_second_attempt(self, queue: Queue) -> None:
        async def scenario() -> None:
            request = a_request()
            await queue.publish(request)
            [first] = await queue.receive(max_count=1, fill_wait=0.0, idle_wait=PROMPT)
            await queue.reject(first, requeue=True)
            [again] = await queue.receive(max_count=1, fill_wait=0.0, idle_wait=PROMPT)
            assert again.request == request
            assert again.attempt == 2

        asyncio.run(scenario())

    def test_a_delivery_rejected_without_requeue_never_comes_back(
        self, subject: QueueHarness, queue: Queue
    ) -> None:
        async def scenario() -> None:
            await queue.publish(a_request())
            [delivery] = await queue.receive(max_count=1, fill_wait=0.0, idle_wait=PROMPT)
            await queue.reject(delivery, requeue=False)
            assert await queue.receive(max_count=1, fill_wait=0.0, idle_wait=0.3) == []
            await queue.close()
            assert await subject.connect().receive(max_count=1, fill_wait=0.0, idle_wait=0.3) == []

        asyncio.run(scenario())

    def test_a_delivery_rejected_without_requeue_becomes_a_dead_letter_naming_its_request(
        self, queue: Queue
    ) -> None:
        async def scenario() -> None:
            request, letter = await a_dead_letter(queue)
            assert (letter.request_id, letter.failure.code) == (request.id, "rejected")

        asyncio.run(scenario())

    def test_a_dead_letter_released_with_requeue_comes_back_and_without_is_gone(
        self, subject: QueueHarness, queue: Queue
    ) -> None:
        async def scenario() -> None:
            request, letter = await a_dead_letter(queue)
            await queue.release_dead_letter(letter, requeue=True)
            [again] = await queue.receive_dead_letters(max_count=5, wait=PROMPT)
            assert again.request_id == request.id
            await queue.release_dead_letter(again, requeue=False)
            assert await queue.receive_dead_letters(max_count=5, wait=0.3) == []
            await queue.close()
            assert await subject.connect().receive_dead_letters(max_count=5, wait=0.3) == []

        asyncio.run(scenario())

    def test_waiting_for_dead_letters_on_an_empty_queue_returns_nothing_after_the_wait(
        self, queue: Queue
    ) -> None:
        async def scenario() -> None:
            started = time.monotonic()
            assert await queue.receive_dead_letters(max_count=5, wait=0.3) == []
            assert 0.25 <= time.monotonic() - started < PROMPT

        asyncio.run(scenario())

    def test_closing_a_consumer_gives_back_what_it_did_not_acknowledge(
        self, subject: QueueHarness, queue: Queue
    ) -> None:
        async def scenario() -> None:
            requests = [a_request() for _ in range(3)]
            for request in requests:
                await queue.publish(request)
            batch = await queue.receive(max_count=3, fill_wait=LONG_WAIT, idle_wait=PROMPT)
            await queue.ack(batch[1])
            await queue.close()
            again = await subject.connect().receive(max_count=2, fill_wait=LONG_WAIT, idle_wait=PROMPT)
            assert ids(again) == [requests[0].id, requests[2].id]
            assert [d.attempt for d in again] == [2, 2]

        asyncio.run(scenario())

    def test_settling_a_batch_at_once_acknowledges_exactly_the_acknowledged_ones(
        self, subject: QueueHarness, queue: Queue
    ) -> None:
        # Acks made together may reach the broker as one "every tag up to this one": the one
        # still in hand (batch[1]) and the one given back (batch[3]) must not be swept along.
        async def scenario() -> None:
            requests = [a_request() for _ in range(5)]
            for request in requests:
                await queue.publish(request)
            batch = await queue.receive(max_count=5, fill_wait=LONG_WAIT, idle_wait=PROMPT)
            assert ids(batch) == [r.id for r in requests]
            await asyncio.gather(
                queue.ack(batch[0]),
                queue.ack(batch[2]),
                queue.reject(batch[3], requeue=True),
                queue.ack(batch[4]),
            )
            [requeued] = await queue.receive(max_count=1, fill_wait=0.0, idle_wait=PROMPT)
            assert (requeued.request.id, requeued.attempt) == (requests[3].id, 2)
            await queue.close()  # a consumer crash: what it held unacknowledged comes back
            again = await subject.connect().receive(max_count=5, fill_wait=1.0, idle_wait=PROMPT)
            assert sorted(ids(again), key=str) == sorted([requests[1].id, requests[3].id], key=str)

        asyncio.run(scenario())

    def test_acknowledging_a_batch_in_one_call_acknowledges_exactly_those(
        self, subject: QueueHarness, queue: Queue
    ) -> None:
        # ack_all may fold its deliveries into one "every tag up to this one": a delivery received
        # before them and still in hand (batch[1]) and one given back meanwhile (batch[3]) stay.
        async def scenario() -> None:
            requests = [a_request() for _ in range(6)]
            for request in requests:
                await queue.publish(request)
            batch = await queue.receive(max_count=6, fill_wait=LONG_WAIT, idle_wait=PROMPT)
            assert ids(batch) == [r.id for r in requests]
            await asyncio.gather(
                queue.ack_all([batch[0], batch[2], batch[4]]),
                queue.reject(batch[3], requeue=True),
                queue.ack_all([]),  # nothing to do, and done at once
            )
            await queue.ack_all([batch[5]])
            [requeued] = await queue.receive(max_count=1, fill_wait=0.0, idle_wait=PROMPT)
            assert (requeued.request.id, requeued.attempt) == (requests[3].id, 2)
            await queue.close()  # a consumer crash: what it held unacknowledged comes back
            again = await subject.connect().receive(max_count=6, fill_wait=1.0, idle_wait=PROMPT)
            assert sorted(ids(again), key=str) == sorted([requests[1].id, requests[3].id], key=str)

        asyncio.run(scenario())

    def test_a_delivery_taken_by_one_receiver_is_not_given_to_another(self, subject: QueueHarness) -> None:
        published = [a_request() for _ in range(16)]

        async def publish_all() -> None:
            for request in published:
                await subject.queue.publish(request)

        async def consume(queue: Queue) -> list[RequestId]:
            taken: list[RequestId] = []
            while batch := await queue.receive(max_count=3, fill_wait=0.0, idle_wait=0.3):
                for delivery in batch:
                    await queue.ack(delivery)
                taken += ids(batch)
            return taken

        asyncio.run(publish_all())
        consumers = [in_another_thread(consume(subject.connect())) for _ in range(4)]
        taken = [request_id for c in consumers for request_id in c.result(timeout=30)]
        assert sorted(taken) == sorted(r.id for r in published)

    def test_a_publish_from_another_thread_wakes_a_waiting_receiver_promptly(
        self, subject: QueueHarness, queue: Queue
    ) -> None:
        request = a_request()

        async def publish_soon(publisher: Queue) -> float:
            await asyncio.sleep(0.1)
            await publisher.publish(request)
            return time.monotonic()

        async def scenario() -> None:
            publisher = in_another_thread(publish_soon(subject.connect()))
            batch = await queue.receive(max_count=1, fill_wait=0.0, idle_wait=LONG_WAIT)
            woke_at = time.monotonic()
            published_at = await asyncio.wrap_future(publisher)
            assert ids(batch) == [request.id]
            assert woke_at - published_at < PROMPT

        asyncio.run(scenario())

    # --- Adapter-configuration-specific: needs a harness that declares its `max_length` bound. ---

    def test_publishing_past_the_configured_bound_is_refused_and_keeps_what_is_queued(
        self, subject: QueueHarness, queue: Queue
    ) -> None:
        if subject.max_length is None:
            pytest.skip("this adapter was configured without a length bound")
        bound = subject.max_length

        async def scenario() -> None:
            kept = [a_request() for _ in range(bound)]
            for request in kept:
                await queue.publish(request)
            with pytest.raises(Overloaded):
                await queue.publish(a_request())
            assert ids(await drain(queue)) == [r.id for r in kept]

        asyncio.run(scenario())


def check_against_the_model(queue: Queue) -> None:
    class OnThisQueue(QueueAgainstModel):
        pass

    OnThisQueue.queue = queue
    run_state_machine_as_test(
        OnThisQueue, settings=settings(max_examples=40, stateful_step_count=25, deadline=None)
    )


class QueueAgainstModel(RuleBasedStateMachine):
    """Any sequence of publish / receive / ack / reject / close loses and duplicates nothing.

    The model tracks, for each request, whether it is ready, delivered (unacknowledged) or gone,
    and its last attempt number. Order after a requeue is left to the broker (quorum queues
    and the memory queue differ), so receive is checked as a set. Adapters run it with a
    delivery limit high enough never to be reached. Subclasses set `queue`.
    """

    queue: Queue

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(drain(self.queue, idle_wait=0.01))  # start empty
        self.ready: list[RequestId] = []
        self.unacked: dict[str, Delivery] = {}
        self.deliveries: dict[RequestId, int] = {}

    def teardown(self) -> None:
        # Nothing lost: closing hands back what is unacknowledged, and then everything that the
        # model holds comes out exactly once.
        self.loop.run_until_complete(self.queue.close())
        expected = self.ready + [d.request.id for d in self.unacked.values()]
        remaining = self.loop.run_until_complete(drain(self.queue, 0.05, expecting=len(expected)))
        self.loop.close()
        assert sorted(ids(remaining), key=str) == sorted(expected, key=str)

    # Stay well under any bound an adapter is configured with (bounds have their own test).
    @precondition(lambda self: len(self.ready) + len(self.unacked) < 10)
    @rule()
    def publish(self) -> None:
        request = a_request()
        self.loop.run_until_complete(self.queue.publish(request))
        self.ready.append(request.id)
        self.deliveries[request.id] = 0

    @rule(max_count=st.integers(1, 4))
    def receive(self, max_count: int) -> None:
        # A broker pushes messages to its consumer over the network, so what is ready may not
        # all have arrived yet: ask for no more than is ready and let the batch fill.
        expected = min(max_count, len(self.ready))
        batch = self.loop.run_until_complete(
            self.queue.receive(max(expected, 1), fill_wait=2.0, idle_wait=2.0 if expected else 0.01)
        )
        assert len(batch) == expected
        assert len(set(ids(batch))) == len(batch)
        for delivery in batch:
            request_id = delivery.request.id
            assert request_id in self.ready
            self.ready.remove(request_id)
            # Never behind the receives; ahead when a prefetching consumer closed holding it.
            assert delivery.attempt > self.deliveries[request_id]
            self.deliveries[request_id] = delivery.attempt
            self.unacked[delivery.tag] = delivery

    @precondition(lambda self: self.unacked)
    @rule(data=st.data())
    def ack(self, data: st.DataObject) -> None:
        tag = data.draw(st.sampled_from(sorted(self.unacked)))
        self.loop.run_until_complete(self.queue.ack(self.unacked.pop(tag)))

    @precondition(lambda self: len(self.unacked) > 1)
    @rule(data=st.data())
    def ack_several_at_once(self, data: st.DataObject) -> None:
        # Together, as a worker acknowledges its batch: an adapter may fold them into one.
        tags = data.draw(st.lists(st.sampled_from(sorted(self.unacked)), min_size=2, unique=True))
        delivered = [self.unacked.pop(tag) for tag in tags]

        async def ack_all() -> None:
            await asyncio.gather(*(self.queue.ack(delivery) for delivery in delivered))

        self.loop.run_until_complete(ack_all())

    @precondition(lambda self: self.unacked)
    @rule(data=st.data())
    def ack_all(self, data: st.DataObject) -> None:
        # In one call, as the worker acknowledges its batch, the rest still in hand.
        tags = data.draw(st.lists(st.sampled_from(sorted(self.unacked)), min_size=1, unique=True))
        self.loop.run_until_complete(self.queue.ack_all([self.unacked.pop(tag) for tag in tags]))

    # Requeue only below two deliveries: every broker's delivery limit is at least that.
    @precondition(lambda self: any(d.attempt < 2 for d in self.unacked.values()))
    @rule(data=st.data())
    def reject_and_requeue(self, data: st.DataObject) -> None:
        tag = data.draw(st.sampled_from(sorted(t for t, d in self.unacked.items() if d.attempt < 2)))
        delivery = self.unacked.pop(tag)
        self.loop.run_until_complete(self.queue.reject(delivery, requeue=True))
        self.ready.append(delivery.request.id)

    @precondition(lambda self: self.unacked)
    @rule(data=st.data())
    def reject_for_good(self, data: st.DataObject) -> None:
        tag = data.draw(st.sampled_from(sorted(self.unacked)))
        self.loop.run_until_complete(self.queue.reject(self.unacked.pop(tag), requeue=False))

    @precondition(lambda self: all(d.attempt < 2 for d in self.unacked.values()))
    @rule()
    def close(self) -> None:
        self.loop.run_until_complete(self.queue.close())
        self.ready += [d.request.id for d in self.unacked.values()]
        self.unacked.clear()

    @invariant()
    def each_request_is_in_one_place_at_most(self) -> None:
        in_flight = [d.request.id for d in self.unacked.values()]
        assert len(set(self.ready)) == len(self.ready)
        assert not set(self.ready) & set(in_flight)
