"""What only the Redis result store promises: its stored form, and how it fails and recovers.

The contract (tests/contract) covers the port's semantics. Here: records are versioned JSON under a
documented key with a TTL; a frozen, dead or restarted Redis gives StoreUnavailable within the
configured timeout, never a hang; and the long-poll's latency, printed as a figure.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

import pytest
import redis

from adapters.redis.codec import decode_record, encode_record
from adapters.redis.result_store import RedisResultStore
from inference.domain import RequestId, RequestRecord, RequestStatus
from inference.errors import StoreUnavailable, UnknownRequest
from inference.outcomes import Failure, LabelScore, Prediction
from inference.transitions import Fail, Start, Succeed
from tests.harness import free_port
from tests.queues import redis_store, transition
from tests.servers import REDIS_URL
from tests.servers.redis import PrivateRedis, private_redis
from tests.stubs import a_record

pytestmark = pytest.mark.server

T = TypeVar("T")
TIMEOUT = 0.5  # the store's timeout in the fault tests
MARGIN = 1.0  # what a busy machine may add to it
NOW = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


@pytest.fixture
def shared_store(prefix: str) -> Iterator[RedisResultStore]:
    store = redis_store(REDIS_URL, ttl=60.0, key_prefix=prefix)
    yield store
    asyncio.run(store.aclose())


@pytest.fixture
def private() -> Iterator[PrivateRedis]:
    with private_redis() as server:
        yield server


@pytest.fixture
def private_store(private: PrivateRedis) -> Iterator[RedisResultStore]:
    store = redis_store(private.url, ttl=60.0, timeout=TIMEOUT)
    yield store
    if private.running:
        private.resume()  # the clean-up must reach it; resuming a running server is harmless
    asyncio.run(store.aclose())


def sync_client(url: str = REDIS_URL) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5.0)


# --- the stored form ---


def test_a_record_is_stored_as_versioned_json_under_its_documented_key_with_a_ttl(prefix: str) -> None:
    store = redis_store(REDIS_URL, ttl=30.0, key_prefix=prefix)
    record = a_record()
    prediction = Prediction((LabelScore("cat", 0.75), LabelScore("dog", 0.25)), "net", "1")

    async def scenario() -> None:
        await store.add(record)
        await transition(store, record.request_id, Succeed(prediction, NOW))
        await store.aclose()

    asyncio.run(scenario())

    with sync_client() as client:
        key = f"{prefix}request:{record.request_id}"
        raw = client.get(key)
        ttl_ms = client.pttl(key)
    assert isinstance(raw, bytes)
    assert not raw.startswith(b"\x80")  # a pickle's first byte
    document = json.loads(raw)
    assert document["v"] == 1
    assert document["request_id"] == str(record.request_id)
    assert document["status"] == "succeeded"
    assert document["completed_at"] == "2024-05-06T07:08:09.123456+00:00"
    assert document["prediction"]["top_k"] == [
        {"label": "cat", "score": 0.75},
        {"label": "dog", "score": 0.25},
    ]
    assert 25_000 < ttl_ms <= 30_000


def test_a_record_with_awkward_values_comes_back_exactly(shared_store: RedisResultStore) -> None:
    tokyo = timezone(timedelta(hours=9))
    record = replace(a_record(top_k=3), created_at=datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=tokyo))
    scores = (LabelScore("chat noir 🐈", 1 / 3), LabelScore("", 0.1 + 0.2), LabelScore('"q"', 5e-324))
    started, failure = Start(NOW), Failure("model_error", "line 1\nline 2 ünïcode")

    async def scenario() -> None:
        await shared_store.add(record)
        await transition(shared_store, record.request_id, started)
        assert await shared_store.get(record.request_id) == record.apply(started)
        other = a_record()
        await shared_store.add(other)
        done = await transition(shared_store, other.request_id, Succeed(Prediction(scores, "m", "v"), NOW))
        assert await shared_store.get(other.request_id) == done
        failed = await transition(shared_store, record.request_id, Fail(failure, NOW))
        assert await shared_store.get(record.request_id) == failed

    asyncio.run(scenario())


def test_the_codec_refuses_other_versions_and_naive_times() -> None:
    document = json.loads(encode_record(a_record()))
    with pytest.raises(ValueError, match="version"):
        decode_record(json.dumps({**document, "v": 2}))
    with pytest.raises(ValueError, match="not a stored request record"):
        decode_record(b"\x80\x04K\x01.")  # a pickle
    with pytest.raises(ValueError, match="time zone"):
        encode_record(replace(a_record(), updated_at=datetime(2024, 1, 1)))


# --- a Redis that is down, frozen or restarted ---


def every_call(store: RedisResultStore, record: RequestRecord) -> dict[str, Callable[[], Awaitable[object]]]:
    request_id = record.request_id
    return {
        "ping": store.ping,
        "add": lambda: store.add(a_record()),
        "get": lambda: store.get(request_id),
        "transition": lambda: store.transition([(request_id, Start(NOW))]),
        "wait_for_terminal": lambda: store.wait_for_terminal(request_id, 30.0),
        "delete": lambda: store.delete(request_id),
    }


def test_a_redis_that_is_not_running_gives_store_unavailable_at_once() -> None:
    store = redis_store(f"redis://127.0.0.1:{free_port()}/0", ttl=60.0, timeout=TIMEOUT)

    async def scenario() -> None:
        for name, call in every_call(store, a_record()).items():
            started = time.monotonic()
            with pytest.raises(StoreUnavailable, match=r"Redis at 127\.0\.0\.1"):
                await call()
            assert time.monotonic() - started < MARGIN, name

    asyncio.run(scenario())


def test_a_frozen_redis_gives_store_unavailable_within_the_timeout_and_the_store_recovers(
    private: PrivateRedis, private_store: RedisResultStore
) -> None:
    record = a_record()

    async def scenario() -> None:
        await private_store.add(record)
        private.pause()
        for name, call in every_call(private_store, record).items():
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                await call()
            elapsed = time.monotonic() - started
            print(f"frozen Redis: {name} gave StoreUnavailable after {elapsed * 1000:.0f} ms")
            assert elapsed < TIMEOUT + MARGIN, name
        private.resume()
        await private_store.ping()
        assert await private_store.get(record.request_id) == record
        assert (await transition(private_store, record.request_id, Start(NOW))).attempts == 1

    asyncio.run(scenario())


def test_a_restarted_redis_is_reached_again_by_the_same_store(
    private: PrivateRedis, private_store: RedisResultStore
) -> None:
    record = a_record()

    async def use() -> None:
        assert await private_store.add(record) is True  # the restart emptied it
        assert await private_store.get(record.request_id) == record

    asyncio.run(use())
    private.restart()
    asyncio.run(use())


@pytest.mark.parametrize(
    ("fault", "bound"),
    [("pause", 1.5 * TIMEOUT + MARGIN), ("kill", MARGIN)],
    ids=["frozen: within about the timeout", "dead: at once"],
)
def test_a_long_poll_whose_redis_fails_mid_wait_ends_promptly(
    private: PrivateRedis, private_store: RedisResultStore, fault: str, bound: float
) -> None:
    record = a_record()

    async def scenario() -> float:
        await private_store.add(record)
        waiting = asyncio.create_task(private_store.wait_for_terminal(record.request_id, 30.0))
        await asyncio.sleep(0.3)
        getattr(private, fault)()  # SIGSTOP (frozen) or SIGKILL (dead)
        failed_at = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await waiting
        return time.monotonic() - failed_at

    elapsed = asyncio.run(scenario())
    print(
        f"long-poll ended {elapsed * 1000:.0f} ms after Redis {fault} (store timeout {TIMEOUT * 1000:.0f} ms)"
    )
    assert elapsed < bound


# --- the long-poll ---


def pattern_subscribers(prefix: str) -> int:
    with sync_client() as client:
        return int(client.pubsub_numpat())  # every pattern on the server; ours is unique by prefix


def test_long_polls_share_one_subscription_however_many_wait_and_other_calls_still_work(
    prefix: str, shared_store: RedisResultStore
) -> None:
    records = [a_record() for _ in range(150)]  # more than redis-py's default pool of 100

    async def scenario() -> None:
        for record in records:
            await shared_store.add(record)
        before = pattern_subscribers(prefix)
        waiting = [
            asyncio.create_task(shared_store.wait_for_terminal(record.request_id, 30.0)) for record in records
        ]
        await asyncio.sleep(0.5)
        assert pattern_subscribers(prefix) - before <= 1  # one subscription for all 150 waiters
        extra = a_record()
        assert await shared_store.add(extra)  # the pool is not exhausted by the waiters
        await shared_store.transition(
            [(record.request_id, Fail(Failure("model_error", "x"), NOW)) for record in records]
        )
        finished = await asyncio.wait_for(asyncio.gather(*waiting), 5.0)
        assert {record.status for record in finished} == {RequestStatus.FAILED}

    asyncio.run(scenario())


def test_a_long_poll_leaves_nothing_behind_however_it_ends(
    prefix: str, shared_store: RedisResultStore
) -> None:
    record = a_record()

    async def scenario() -> None:
        await shared_store.add(record)
        await shared_store.wait_for_terminal(record.request_id, 0.1)  # timed out
        completions = await shared_store._clients.completions()
        assert completions._waiters == {}
        waiting = asyncio.create_task(shared_store.wait_for_terminal(record.request_id, 30.0))
        await asyncio.sleep(0.2)
        assert len(completions._waiters) == 1
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert completions._waiters == {}
        with pytest.raises(UnknownRequest):
            await shared_store.wait_for_terminal(a_record().request_id, 30.0)
        assert completions._waiters == {}

    asyncio.run(scenario())


def test_a_long_poll_reads_the_record_once_as_transitions_announce_it(
    shared_store: RedisResultStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every transition is announced (the status stream wants each) with the record as stored: a
    # long-poll reads the key once, before it waits, and takes the terminal record from its message.
    record = a_record()
    reads: list[RequestStatus] = []
    read = shared_store._read

    async def counted(client: Any, request_id: RequestId) -> RequestRecord:
        found = await read(client, request_id)
        reads.append(found.status)
        return found

    monkeypatch.setattr(shared_store, "_read", counted)

    async def scenario() -> None:
        await shared_store.add(record)
        waiting = asyncio.create_task(shared_store.wait_for_terminal(record.request_id, 30.0))
        await asyncio.sleep(0.1)
        await shared_store.transition([(record.request_id, Start(NOW))])
        await asyncio.sleep(0.1)
        await shared_store.transition([(record.request_id, Fail(Failure("model_error", "x"), NOW))])
        finished = await asyncio.wait_for(waiting, 5.0)
        assert finished.status is RequestStatus.FAILED
        assert reads == [RequestStatus.QUEUED]

    asyncio.run(scenario())


class LoopThread:
    """An event loop running in a thread of its own: another client, as another process would be."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    def close(self) -> None:
        self.run(self.loop.shutdown_asyncgens())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


def test_a_long_poll_returns_within_milliseconds_of_another_clients_terminal_write(prefix: str) -> None:
    waiter = redis_store(REDIS_URL, ttl=60.0, key_prefix=prefix)
    writer = redis_store(REDIS_URL, ttl=60.0, key_prefix=prefix)
    other = LoopThread()
    prediction = Prediction((LabelScore("cat", 1.0),), "net", "1")

    async def finish(request_id: RequestId) -> float:
        written_at = time.monotonic()  # before the write: the figure includes the write itself
        await transition(writer, request_id, Succeed(prediction, NOW))
        return written_at

    async def wait(request_id: RequestId) -> tuple[RequestRecord, float]:
        return await waiter.wait_for_terminal(request_id, 10.0), time.monotonic()

    async def one_try() -> float:
        record = a_record()
        await waiter.add(record)
        waiting = asyncio.create_task(wait(record.request_id))
        await asyncio.sleep(0.05)  # let it subscribe
        finishing = asyncio.run_coroutine_threadsafe(finish(record.request_id), other.loop)
        result, returned_at = await waiting
        written_at = await asyncio.wrap_future(finishing)
        assert result.status is RequestStatus.SUCCEEDED
        await waiter.aclose()
        return returned_at - written_at

    try:
        latencies = [asyncio.run(one_try()) for _ in range(20)]
    finally:
        other.run(writer.aclose())
        other.close()
    median, worst = statistics.median(latencies), max(latencies)
    print(
        f"long-poll latency, {len(latencies)} tries: median {median * 1e3:.2f} ms, max {worst * 1e3:.2f} ms"
    )
    assert worst < 1.0  # a figure to read, not a benchmark: machines are noisy
