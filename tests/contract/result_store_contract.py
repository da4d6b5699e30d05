"""The ResultStore port's contract, written once for every adapter.

A test module subclasses ResultStoreContract and provides a `subject` fixture (a StoreHarness),
parametrized by adapter ("memory" and "redis"). Time bounds are generous on purpose: they tell
"woke up" from "waited for the timeout", never measure speed.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, rule, run_state_machine_as_test

from inference.domain import RequestId, RequestRecord, RequestStatus
from inference.errors import InvalidTransition, UnknownRequest
from inference.outcomes import Failure
from inference.ports import ResultStore
from inference.transitions import Cancel, Fail, Start, Succeed, Transition
from tests import stubs
from tests.queues import transition
from tests.queues import transition as transition_one
from tests.stubs import a_prediction, in_another_thread

LONG_WAIT = 10.0
PROMPT = 1.0
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class StoreHarness:
    """How the contract reaches one adapter.

    `store` keeps records `ttl` seconds. `let_time_pass(seconds)` makes that much of the store's
    time go by: a fake clock jumps for the memory adapter, a real adapter (configured with a short
    TTL, about a second) just sleeps. `connect` opens another client on the same data, usable from
    another thread and event loop; an adapter safe to share may return `store` itself. `close`
    releases what the harness opened (clients, test data) once the test is over.
    """

    store: ResultStore
    ttl: float
    let_time_pass: Callable[[float], None]
    connect: Callable[[], ResultStore]
    close: Callable[[], None] = lambda: None


def a_record(top_k: int = 3) -> RequestRecord:
    return stubs.a_record(top_k=top_k, submitted_at=EPOCH)


def at(seconds: int) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


class ResultStoreContract:
    @pytest.fixture
    def store(self, subject: StoreHarness) -> ResultStore:
        return subject.store

    # --- add, get, delete ---

    def test_an_added_record_can_be_read_back(self, store: ResultStore) -> None:
        async def scenario() -> None:
            record = a_record()
            assert await store.add(record) is True
            assert await store.get(record.request_id) == record

        asyncio.run(scenario())

    def test_adding_an_existing_id_changes_nothing(self, store: ResultStore) -> None:
        async def scenario() -> None:
            record = a_record(top_k=3)
            await store.add(record)
            assert await store.add(replace(record, top_k=9)) is False
            assert await store.get(record.request_id) == record

        asyncio.run(scenario())

    def test_reading_an_unknown_request_raises_unknown_request(self, store: ResultStore) -> None:
        with pytest.raises(UnknownRequest):
            asyncio.run(store.get(RequestId.new()))

    def test_a_deleted_record_is_gone(self, store: ResultStore) -> None:
        async def scenario() -> None:
            record = a_record()
            await store.add(record)
            await store.delete(record.request_id)
            with pytest.raises(UnknownRequest):
                await store.get(record.request_id)
            assert await store.add(record) is True

        asyncio.run(scenario())

    def test_deleting_an_unknown_request_is_harmless(self, store: ResultStore) -> None:
        asyncio.run(store.delete(RequestId.new()))

    # --- transitions ---

    def test_a_request_goes_through_processing_to_success(self, store: ResultStore) -> None:
        async def scenario() -> None:
            record = a_record()
            await store.add(record)
            started = await transition(store, record.request_id, Start(at(1)))
            assert (started.status, started.attempts) == (RequestStatus.PROCESSING, 1)
            done = await transition(store, record.request_id, Succeed(a_prediction(), at(2)))
            assert done == record.apply(Start(at(1))).apply(Succeed(a_prediction(), at(2)))
            assert await store.get(record.request_id) == done

        asyncio.run(scenario())

    def test_a_request_can_fail_with_its_reason_kept(self, store: ResultStore) -> None:
        async def scenario() -> None:
            record = a_record()
            await store.add(record)
            failure = Failure("invalid_image", "the image could not be decoded")
            done = await transition(store, record.request_id, Fail(failure, at(1)))
            assert (done.status, done.failure) == (RequestStatus.FAILED, failure)
            assert await store.get(record.request_id) == done

        asyncio.run(scenario())

    def test_a_cancel_while_processing_is_kept_and_the_later_result_refused(self, store: ResultStore) -> None:
        async def scenario() -> None:
            record = a_record()
            await store.add(record)
            await transition(store, record.request_id, Start(at(1)))
            canceled = await transition(store, record.request_id, Cancel(at(2)))
            assert canceled.status is RequestStatus.CANCELED
            with pytest.raises(InvalidTransition) as refused:
                await transition(store, record.request_id, Succeed(a_prediction(), at(3)))
            assert refused.value.current == canceled
            assert await store.get(record.request_id) == canceled

        asyncio.run(scenario())

    def test_waiting_returns_promptly_when_another_client_cancels_the_request(
        self, subject: StoreHarness, store: ResultStore
    ) -> None:
        async def cancel_soon(client: ResultStore, request_id: RequestId) -> None:
            await asyncio.sleep(0.1)
            await transition(client, request_id, Cancel(at(1)))

        async def scenario() -> None:
            record = a_record()
            await store.add(record)
            canceler = in_another_thread(cancel_soon(subject.connect(), record.request_id))
            result = await store.wait_for_terminal(record.request_id, LONG_WAIT)
            await asyncio.wrap_future(canceler)
            assert result.status is RequestStatus.CANCELED  # not the queued record after the timeout

        asyncio.run(scenario())

    def test_a_transition_of_an_unknown_request_raises_unknown_request(self, store: ResultStore) -> None:
        with pytest.raises(UnknownRequest):
            asyncio.run(transition(store, RequestId.new(), Start(at(1))))

    @pytest.mark.parametrize(
        "late",
        [Start(at(5)), Succeed(a_prediction("dog"), at(5)), Fail(Failure("model_error", "boom"), at(5))],
        ids=["start", "succeed", "fail"],
    )
    def test_a_redelivered_request_does_not_overwrite_its_result(
        self, store: ResultStore, late: Transition
    ) -> None:
        async def scenario() -> None:
            record = a_record()
            await store.add(record)
            await transition(store, record.request_id, Start(at(1)))
            done = await transition(store, record.request_id, Succeed(a_prediction("cat"), at(2)))
            with pytest.raises(InvalidTransition) as refused:
                await transition(store, record.request_id, late)
            assert refused.value.current == done
            assert await store.get(record.request_id) == done

        asyncio.run(scenario())

    def test_transitions_of_a_batch_each_get_their_own_outcome(self, store: ResultStore) -> None:
        async def scenario() -> None:
            queued, finished = a_record(), a_record()
            for record in (queued, finished):
                await store.add(record)
            await transition(store, finished.request_id, Fail(Failure("model_error", "boom"), at(1)))
            unknown = RequestId.new()
            outcomes = await store.transition(
                [
                    (queued.request_id, Start(at(2))),
                    (unknown, Start(at(2))),
                    (finished.request_id, Start(at(2))),
                ]
            )
            assert outcomes[0] == queued.apply(Start(at(2))) == await store.get(queued.request_id)
            assert isinstance(outcomes[1], UnknownRequest)
            assert isinstance(outcomes[2], InvalidTransition)
            assert outcomes[2].current == await store.get(finished.request_id)
            assert await store.transition([]) == []

        asyncio.run(scenario())

    def test_a_batch_finishing_requests_wakes_each_of_their_waiters(self, store: ResultStore) -> None:
        async def scenario() -> None:
            records = [a_record() for _ in range(3)]
            for record in records:
                await store.add(record)
            waiters = [
                asyncio.create_task(store.wait_for_terminal(record.request_id, LONG_WAIT))
                for record in records
            ]
            await asyncio.sleep(0.2)  # let them subscribe
            began = time.monotonic()
            await store.transition(
                [(record.request_id, Succeed(a_prediction(), at(1))) for record in records]
            )
            finished = await asyncio.gather(*waiters)
            assert time.monotonic() - began < PROMPT
            assert [record.status for record in finished] == [RequestStatus.SUCCEEDED] * 3

        asyncio.run(scenario())

    # --- time-to-live ---

    def test_a_record_lives_until_its_time_to_live_runs_out(self, subject: StoreHarness) -> None:
        async def scenario() -> None:
            record = a_record()
            await subject.store.add(record)
            subject.let_time_pass(subject.ttl * 0.5)
            assert await subject.store.get(record.request_id) == record
            subject.let_time_pass(subject.ttl)
            with pytest.raises(UnknownRequest):
                await subject.store.get(record.request_id)
            with pytest.raises(UnknownRequest):
                await transition(subject.store, record.request_id, Start(at(1)))
            assert await subject.store.add(record) is True  # an expired id is free again

        asyncio.run(scenario())

    def test_every_write_renews_the_time_to_live(self, subject: StoreHarness) -> None:
        async def scenario() -> None:
            store, step = subject.store, subject.ttl * 0.6
            record = a_record()
            await store.add(record)
            subject.let_time_pass(step)
            await transition(store, record.request_id, Start(at(1)))
            subject.let_time_pass(step)
            await transition(store, record.request_id, Succeed(a_prediction(), at(2)))
            subject.let_time_pass(step)
            # 1.8 ttl after it was added but 0.6 ttl after its last write: still here.
            assert (await store.get(record.request_id)).status is RequestStatus.SUCCEEDED
            subject.let_time_pass(step)
            with pytest.raises(UnknownRequest):
                await store.get(record.request_id)

        asyncio.run(scenario())

    # --- long-poll ---

    def test_waiting_returns_promptly_when_another_client_finishes_the_request(
        self, subject: StoreHarness, store: ResultStore
    ) -> None:
        async def finish_soon(client: ResultStore, request_id: RequestId) -> float:
            await asyncio.sleep(0.1)
            await transition(client, request_id, Succeed(a_prediction(), at(1)))
            return time.monotonic()

        async def scenario() -> None:
            record = a_record()
            await store.add(record)
            finisher = in_another_thread(finish_soon(subject.connect(), record.request_id))
            result = await store.wait_for_terminal(record.request_id, LONG_WAIT)
            returned_at = time.monotonic()
            finished_at = await asyncio.wrap_future(finisher)
            assert result.status is RequestStatus.SUCCEEDED
            assert returned_at - finished_at < PROMPT

        asyncio.run(scenario())

    def test_waiting_returns_promptly_when_the_same_event_loop_finishes_the_request(
        self, store: ResultStore
    ) -> None:
        async def scenario() -> None:
            record = a_record()
            await store.add(record)

            async def fail_soon() -> None:
                await asyncio.sleep(0.1)
                await transition(store, record.request_id, Fail(Failure("model_error", "x"), at(1)))

            started = time.monotonic()
            result, _ = await asyncio.gather(
                store.wait_for_terminal(record.request_id, LONG_WAIT), fail_soon()
            )
            assert result.status is RequestStatus.FAILED
            assert time.monotonic() - started < PROMPT + 0.1

        asyncio.run(scenario())

    def test_waiting_for_a_finished_request_returns_it_at_once(self, store: ResultStore) -> None:
        async def scenario() -> None:
            record = a_record()
            await store.add(record)
            done = await transition(store, record.request_id, Succeed(a_prediction(), at(1)))
            started = time.monotonic()
            assert await store.wait_for_terminal(record.request_id, LONG_WAIT) == done
            assert time.monotonic() - started < PROMPT

        asyncio.run(scenario())

    def test_waiting_gives_the_unfinished_record_after_its_timeout(self, store: ResultStore) -> None:
        async def scenario() -> None:
            record = a_record()
            await store.add(record)
            started_record = await transition(store, record.request_id, Start(at(1)))
            started = time.monotonic()
            assert await store.wait_for_terminal(record.request_id, 0.3) == started_record
            assert 0.25 <= time.monotonic() - started < PROMPT + 0.3

        asyncio.run(scenario())

    def test_waiting_for_an_unknown_request_raises_unknown_request_at_once(self, store: ResultStore) -> None:
        started = time.monotonic()
        with pytest.raises(UnknownRequest):
            asyncio.run(store.wait_for_terminal(RequestId.new(), LONG_WAIT))
        assert time.monotonic() - started < PROMPT

    # --- atomicity ---

    def test_of_many_concurrent_outcomes_exactly_one_wins(self, subject: StoreHarness) -> None:
        record = a_record()
        asyncio.run(subject.store.add(record))
        contenders = 8
        barrier = threading.Barrier(contenders)

        async def finish(client: ResultStore, n: int) -> RequestRecord | InvalidTransition:
            outcome: Transition = (
                Succeed(a_prediction(f"label-{n}"), at(n))
                if n % 2
                else Fail(Failure(f"code-{n}", "x"), at(n))
            )
            barrier.wait(timeout=10)
            try:
                return await transition(client, record.request_id, outcome)
            except InvalidTransition as refused:
                return refused

        futures = [in_another_thread(finish(subject.connect(), n)) for n in range(contenders)]
        results = [f.result(timeout=30) for f in futures]
        winners = [r for r in results if isinstance(r, RequestRecord)]
        losers = [r for r in results if isinstance(r, InvalidTransition)]
        assert len(winners) == 1
        assert len(losers) == contenders - 1
        final = asyncio.run(subject.store.get(record.request_id))
        assert final == winners[0]
        assert all(loser.current == final for loser in losers)

    def test_concurrent_starts_are_all_counted(self, subject: StoreHarness) -> None:
        record = a_record()
        asyncio.run(subject.store.add(record))
        workers = 8
        barrier = threading.Barrier(workers)

        async def start(client: ResultStore) -> None:
            barrier.wait(timeout=10)
            await transition(client, record.request_id, Start(at(1)))

        for future in [in_another_thread(start(subject.connect())) for _ in range(workers)]:
            future.result(timeout=30)
        assert asyncio.run(subject.store.get(record.request_id)).attempts == workers

    # --- the whole behaviour, against a model ---

    def test_the_store_behaves_like_a_dict_of_records_under_their_state_machine(
        self, subject: StoreHarness
    ) -> None:
        class OnThisStore(StoreAgainstModel):
            store = subject.store

        run_state_machine_as_test(
            OnThisStore,
            settings=settings(max_examples=60, stateful_step_count=25, deadline=None),
        )


_times = st.integers(min_value=0, max_value=1_000).map(at)
_transitions: st.SearchStrategy[Transition] = st.one_of(
    st.builds(Start, at=_times),
    st.builds(Succeed, prediction=st.sampled_from(["cat", "dog"]).map(a_prediction), at=_times),
    st.builds(
        Fail,
        failure=st.sampled_from(
            [Failure("invalid_image", "x"), Failure("model_error", "y"), Failure("deadline_exceeded", "z")]
        ),
        at=_times,
    ),
    st.builds(Cancel, at=_times),
)


class StoreAgainstModel(RuleBasedStateMachine):
    """Every step on the store gives what the same step gives on a dict applying RequestRecord.apply.

    Subclasses set `store`. Ids are fresh per run, so the store may be shared with other tests
    and other runs.
    """

    store: ResultStore
    ids = Bundle("ids")

    def __init__(self) -> None:
        super().__init__()
        self.model: dict[RequestId, RequestRecord] = {}
        self.loop = asyncio.new_event_loop()

    def teardown(self) -> None:
        # As asyncio.run() does: async generators (an adapter's per-loop clean-up) finish first.
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    @rule(target=ids, top_k=st.integers(1, 5))
    def add_a_new_record(self, top_k: int) -> RequestId:
        record = a_record(top_k)
        assert self.loop.run_until_complete(self.store.add(record)) is True
        self.model[record.request_id] = record
        return record.request_id

    @rule(request_id=ids, top_k=st.integers(1, 5))
    def add_under_a_known_id(self, request_id: RequestId, top_k: int) -> None:
        record = replace(a_record(top_k), request_id=request_id)
        added = self.loop.run_until_complete(self.store.add(record))
        assert added is (request_id not in self.model)
        if added:
            self.model[request_id] = record

    @rule(request_id=ids, transition=_transitions)
    def transition(self, request_id: RequestId, transition: Transition) -> None:
        current = self.model.get(request_id)
        if current is None:
            with pytest.raises(UnknownRequest):
                self.loop.run_until_complete(transition_one(self.store, request_id, transition))
            return
        try:
            expected = current.apply(transition)
        except InvalidTransition:
            with pytest.raises(InvalidTransition) as refused:
                self.loop.run_until_complete(transition_one(self.store, request_id, transition))
            assert refused.value.current == current
            return
        assert self.loop.run_until_complete(transition_one(self.store, request_id, transition)) == expected
        self.model[request_id] = expected

    @rule(request_id=ids)
    def get(self, request_id: RequestId) -> None:
        expected = self.model.get(request_id)
        if expected is None:
            with pytest.raises(UnknownRequest):
                self.loop.run_until_complete(self.store.get(request_id))
        else:
            assert self.loop.run_until_complete(self.store.get(request_id)) == expected

    @rule(request_id=ids)
    def delete(self, request_id: RequestId) -> None:
        self.loop.run_until_complete(self.store.delete(request_id))
        self.model.pop(request_id, None)

    @rule()
    def get_an_id_never_added(self) -> None:
        with pytest.raises(UnknownRequest):
            self.loop.run_until_complete(self.store.get(RequestId.new()))
