"""A change announced with the record as stored stands for a read: the waiter takes the record
from the message and does not read the key (a Redis round trip per long-poll). A bare status, as
older writers announce, still leads to a read."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from adapters.redis.codec import encode_record
from adapters.redis.result_store import RedisResultStore
from adapters.redis.waiting import recorded
from inference.domain import RequestId, RequestRecord, RequestStatus
from inference.outcomes import Failure
from inference.transitions import Fail, Start
from tests.queues import redis_store
from tests.servers import REDIS_URL
from tests.stubs import a_record

pytestmark = pytest.mark.server


@pytest.fixture
def store(prefix: str) -> Iterator[RedisResultStore]:
    store = redis_store(REDIS_URL, ttl=60.0, key_prefix=prefix)
    yield store
    asyncio.run(store.aclose())


def counting_reads(store: RedisResultStore, monkeypatch: pytest.MonkeyPatch) -> list[RequestStatus]:
    reads: list[RequestStatus] = []
    read = store._read

    async def counted(client: Any, request_id: RequestId) -> RequestRecord:
        found = await read(client, request_id)
        reads.append(found.status)
        return found

    monkeypatch.setattr(store, "_read", counted)
    return reads


def announce(prefix: str, request_id: RequestId, payload: bytes | str) -> None:
    """As another process's transition does, on the request's channel."""
    with redis.Redis.from_url(REDIS_URL, socket_timeout=5.0) as client:
        client.publish(f"{prefix}changed:{request_id}", payload)


def test_a_long_poll_takes_the_terminal_record_its_message_carries_without_reading_the_key(
    store: RedisResultStore, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The key still says queued: only a waiter that believes the message can return "failed".
    queued = a_record()
    failed = queued.apply(Start(queued.created_at)).apply(
        Fail(Failure("model_error", "x"), queued.created_at)
    )
    reads = counting_reads(store, monkeypatch)

    async def scenario() -> RequestRecord:
        await store.add(queued)
        waiting = asyncio.create_task(store.wait_for_terminal(queued.request_id, 5.0))
        await asyncio.sleep(0.2)
        await asyncio.to_thread(announce, prefix, queued.request_id, encode_record(failed))
        return await asyncio.wait_for(waiting, 5.0)

    assert asyncio.run(scenario()) == failed
    assert reads == [RequestStatus.QUEUED]  # the first read only


def test_a_watched_submission_hears_its_result_without_reading_the_key_at_all(
    store: RedisResultStore, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Watched since before the record was added, the waiter knows it unchanged until it hears
    # otherwise: not even the first read of a long-poll.
    queued = a_record()
    processing = queued.apply(Start(queued.created_at))
    failed = processing.apply(Fail(Failure("model_error", "x"), queued.created_at))
    reads = counting_reads(store, monkeypatch)

    async def scenario() -> RequestRecord | None:
        async with store.watch_terminal(queued.request_id) as watch:
            await store.add(queued)
            waiting = asyncio.create_task(watch.terminal_within(5.0))
            for news in (processing, failed):
                await asyncio.to_thread(announce, prefix, queued.request_id, encode_record(news))
            return await asyncio.wait_for(waiting, 5.0)

    assert asyncio.run(scenario()) == failed
    assert reads == []


def test_a_status_stream_takes_each_record_its_messages_carry(
    store: RedisResultStore, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    queued = a_record()
    processing = queued.apply(Start(queued.created_at))
    reads = counting_reads(store, monkeypatch)

    async def scenario() -> RequestRecord:
        await store.add(queued)
        waiting = asyncio.create_task(store.wait_for_change(queued.request_id, queued, 5.0))
        await asyncio.sleep(0.2)
        await asyncio.to_thread(announce, prefix, queued.request_id, encode_record(processing))
        return await asyncio.wait_for(waiting, 5.0)

    assert asyncio.run(scenario()) == processing
    assert reads == [RequestStatus.QUEUED]


def test_a_bare_terminal_status_still_leads_to_a_read(
    store: RedisResultStore, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    queued = a_record()
    reads = counting_reads(store, monkeypatch)

    async def scenario() -> RequestRecord:
        await store.add(queued)
        waiting = asyncio.create_task(store.wait_for_terminal(queued.request_id, 1.0))
        await asyncio.sleep(0.2)
        await asyncio.to_thread(announce, prefix, queued.request_id, "failed")
        return await asyncio.wait_for(waiting, 5.0)

    assert asyncio.run(scenario()) == queued  # the key never changed: the wait runs out
    assert reads[:2] == [RequestStatus.QUEUED, RequestStatus.QUEUED]


@pytest.mark.parametrize("payload", ["processing", "succeeded", "{not json", '{"v": 99}', ""])
def test_a_payload_that_is_no_stored_record_carries_none(payload: str) -> None:
    assert recorded(payload) is None


def test_a_stored_record_as_payload_carries_itself() -> None:
    record = a_record()

    assert recorded(encode_record(record).decode()) == record
