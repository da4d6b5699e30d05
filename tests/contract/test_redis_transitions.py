"""How the Redis store applies transitions: read, apply the rules in Python, compare-and-set.

Another writer may change a record between the store's read and its write; the write must then
not land, and the transition must be applied again to the new value. Here that writer is
injected at exactly that moment. The store also remembers what it wrote itself, to skip reading
it back: a memory that is out of date must cost a round trip, never a lost write or a wrong
refusal. And the round trips themselves are counted: two for a batch the store has not seen,
one for a batch it wrote last.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from adapters.redis.compare_and_set import Write
from adapters.redis.result_store import RedisResultStore
from inference.domain import RequestRecord, RequestStatus
from inference.errors import InvalidTransition
from inference.outcomes import Failure
from inference.transitions import Cancel, Fail, Requeue, Start, Succeed, Transition
from tests.queues import redis_store, transition
from tests.servers import REDIS_URL
from tests.servers.redis import private_redis
from tests.stubs import a_prediction, a_record

pytestmark = pytest.mark.server

T0 = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def stores(prefix: str) -> Iterator[tuple[RedisResultStore, RedisResultStore]]:
    """Two stores on the same records: this worker, and another process."""
    pair = (
        redis_store(REDIS_URL, ttl=60.0, key_prefix=prefix),
        redis_store(REDIS_URL, ttl=60.0, key_prefix=prefix),
    )
    yield pair
    for store in pair:
        asyncio.run(store.aclose())


def interrupt_the_write_once(
    store: RedisResultStore, meanwhile: Callable[[], Awaitable[Any]]
) -> list[Sequence[Write]]:
    """Before `store`'s next compare-and-set (after its read), run `meanwhile` (another writer)."""
    compare_and_set = store._transitions._compare_and_set
    attempts: list[Sequence[Write]] = []

    async def interrupted(client: Any, writes: Sequence[Write]) -> set[int]:
        if not attempts:
            await meanwhile()
        attempts.append(writes)
        return await compare_and_set(client, writes)

    store._transitions._compare_and_set = interrupted  # type: ignore[assignment]
    return attempts


def test_a_record_changed_between_the_read_and_the_write_gets_the_transition_applied_to_its_new_value(
    stores: tuple[RedisResultStore, RedisResultStore],
) -> None:
    # Mutation: a script that writes without comparing leaves attempts at 1 (the other start lost).
    mine, other = stores
    record = a_record()

    async def scenario() -> None:
        await mine.add(record)
        attempts = interrupt_the_write_once(mine, lambda: transition(other, record.request_id, Start(at(1))))
        started = await transition(mine, record.request_id, Start(at(2)))
        assert started.attempts == 2  # both starts counted: ours applied again on top of theirs
        assert started.updated_at == at(2)
        assert await mine.get(record.request_id) == started
        assert len(attempts) == 2  # the first write was refused by the comparison

    asyncio.run(scenario())


def test_a_record_that_turns_terminal_between_the_read_and_the_write_stays_as_the_other_writer_left_it(
    stores: tuple[RedisResultStore, RedisResultStore],
) -> None:
    mine, other = stores
    record = a_record()

    async def scenario() -> None:
        await mine.add(record)
        await transition(mine, record.request_id, Start(at(1)))
        canceled: list[RequestRecord] = []

        async def cancel() -> None:
            canceled.append(await transition(other, record.request_id, Cancel(at(2))))

        interrupt_the_write_once(mine, cancel)
        [refused] = await mine.transition([(record.request_id, Succeed(a_prediction(), at(3)))])
        assert isinstance(refused, InvalidTransition)
        assert refused.current == canceled[0]
        assert await mine.get(record.request_id) == canceled[0]

    asyncio.run(scenario())


def test_only_the_conflicted_records_of_a_batch_are_applied_again(
    stores: tuple[RedisResultStore, RedisResultStore],
) -> None:
    mine, other = stores
    records = [a_record() for _ in range(3)]
    contested = records[1].request_id

    async def scenario() -> None:
        for record in records:
            await mine.add(record)
        attempts = interrupt_the_write_once(mine, lambda: transition(other, contested, Start(at(1))))
        results = await mine.transition([(record.request_id, Start(at(2))) for record in records])
        assert [r.attempts for r in results if isinstance(r, RequestRecord)] == [1, 2, 1]
        assert [len(writes) for writes in attempts] == [3, 1]
        for record, result in zip(records, results, strict=True):
            assert await mine.get(record.request_id) == result

    asyncio.run(scenario())


# --- what the store remembers of its own writes ---


def test_a_record_another_writer_finished_after_this_stores_start_is_not_written_over(
    stores: tuple[RedisResultStore, RedisResultStore],
) -> None:
    mine, other = stores
    record = a_record()

    async def scenario() -> None:
        await mine.add(record)
        await transition(mine, record.request_id, Start(at(1)))  # remembered by `mine`
        failed = await transition(other, record.request_id, Fail(Failure("model_error", "x"), at(2)))
        with pytest.raises(InvalidTransition) as refused:
            await transition(mine, record.request_id, Succeed(a_prediction(), at(3)))
        assert refused.value.current == failed
        assert await mine.get(record.request_id) == failed

    asyncio.run(scenario())


def test_a_transition_refused_on_what_this_store_wrote_is_tried_on_what_the_record_now_holds(
    stores: tuple[RedisResultStore, RedisResultStore],
) -> None:
    # Mutation: taking a refusal on the remembered (processing) record as final refuses the requeue.
    mine, other = stores
    record = a_record()

    async def scenario() -> None:
        await mine.add(record)
        await transition(mine, record.request_id, Start(at(1)))  # remembered as processing
        await transition(other, record.request_id, Fail(Failure("model_error", "x"), at(2)))
        requeued = await transition(mine, record.request_id, Requeue(at(3)))
        assert requeued.status is RequestStatus.QUEUED
        assert requeued.requeued == 1

    asyncio.run(scenario())


def test_a_batch_costs_two_round_trips_and_its_outcome_written_over_this_stores_start_one(
    stores: tuple[RedisResultStore, RedisResultStore],
) -> None:
    # Mutation: not remembering this store's own writes makes the outcome cost a read as well.
    mine, _ = stores
    records = [a_record() for _ in range(4)]

    async def scenario() -> list[list[str]]:
        for record in records:
            await mine.add(record)
        commands = await counted_in(mine)
        rounds: list[Sequence[tuple[Any, Transition]]] = [
            [(r.request_id, Start(at(1))) for r in records],
            [(r.request_id, Succeed(a_prediction(), at(2))) for r in records],
        ]
        seen = []
        for batch in rounds:
            commands.clear()
            results = await mine.transition(batch)
            assert all(isinstance(r, RequestRecord) for r in results)
            seen.append(list(commands))
        return seen

    start, finish = asyncio.run(scenario())
    assert start == ["MGET", "EVALSHA"]
    assert finish == ["EVALSHA"]


async def counted_in(store: RedisResultStore) -> list[str]:
    client = await store.client()
    execute: Callable[..., Awaitable[Any]] = client.execute_command
    names: list[str] = []

    async def counted(*args: Any, **options: Any) -> Any:
        names.append(str(args[0]))
        return await execute(*args, **options)

    client.execute_command = counted  # type: ignore[method-assign]
    return names


def test_a_server_that_forgot_the_script_is_taught_it_again() -> None:
    with private_redis() as server:
        store = redis_store(server.url, ttl=60.0)
        record = a_record()

        async def scenario() -> None:
            await store.add(record)
            await transition(store, record.request_id, Start(at(1)))
            with redis.Redis.from_url(server.url, socket_timeout=5.0) as client:
                client.script_flush()
            done = await transition(store, record.request_id, Succeed(a_prediction(), at(2)))
            assert await store.get(record.request_id) == done
            await store.aclose()

        asyncio.run(scenario())
