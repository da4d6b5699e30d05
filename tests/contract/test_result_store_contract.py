"""The ResultStore contract, run against each adapter; plus what only the memory adapter promises."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from uuid import uuid4

import pytest
import redis

from adapters.redis.result_store import RedisResultStore
from inference.errors import StoreUnavailable
from tests.contract.result_store_contract import ResultStoreContract, StoreHarness, a_record
from tests.queues import memory_store, redis_store
from tests.servers import REDIS_URL, require_server
from tests.stubs import FakeClock

# Long enough that "still there after 0.6 ttl" survives a stalled machine (0.4 s of slack), short
# enough that the time-to-live tests take seconds; expiry itself is exact on the server.
REDIS_TTL = 1.0


def memory_harness() -> StoreHarness:
    # One instance is safe to share across threads and event loops, so it is its own peer.
    clock = FakeClock()
    store = memory_store(ttl=60.0, clock=clock)
    return StoreHarness(store=store, ttl=60.0, let_time_pass=clock.advance, connect=lambda: store)


def redis_harness() -> StoreHarness:
    # The shared server: each test keeps to keys (and channels) under a prefix of its own.
    require_server("Redis", REDIS_URL)
    prefix = f"test:{uuid4().hex}:"
    stores = [redis_store(REDIS_URL, ttl=REDIS_TTL, key_prefix=prefix)]

    def connect() -> RedisResultStore:
        stores.append(redis_store(REDIS_URL, ttl=REDIS_TTL, key_prefix=prefix))
        return stores[-1]

    def close() -> None:
        for store in stores:
            asyncio.run(store.aclose())
        with redis.Redis.from_url(REDIS_URL, socket_timeout=5.0) as client:
            keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
            if keys:
                client.delete(*keys)

    return StoreHarness(
        store=stores[0], ttl=REDIS_TTL, let_time_pass=time.sleep, connect=connect, close=close
    )


class TestResultStoreContract(ResultStoreContract):
    @pytest.fixture(
        params=[
            pytest.param(memory_harness, id="memory"),
            pytest.param(redis_harness, id="redis", marks=pytest.mark.server),
        ]
    )
    def subject(self, request: pytest.FixtureRequest) -> Iterator[StoreHarness]:
        harness: StoreHarness = request.param()
        yield harness
        harness.close()


# --- Memory adapter only: its bound. ---


def test_a_full_memory_store_refuses_new_records_as_unavailable() -> None:
    async def scenario() -> None:
        store = memory_store(max_records=2)
        await store.add(a_record())
        await store.add(a_record())
        with pytest.raises(StoreUnavailable):
            await store.add(a_record())

    asyncio.run(scenario())


def test_a_full_memory_store_makes_room_by_dropping_expired_records() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        store = memory_store(ttl=10.0, max_records=2, clock=clock)
        old = a_record()
        await store.add(old)
        await store.add(a_record())
        clock.advance(11.0)
        assert await store.add(a_record()) is True

    asyncio.run(scenario())
