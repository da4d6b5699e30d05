"""The IdempotencyKeys contract, run against the memory adapter and Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from uuid import uuid4

import pytest
import redis

from adapters.memory import MemoryIdempotencyKeys
from adapters.redis import RedisIdempotencyKeys
from tests.contract.idempotency_keys_contract import IdempotencyKeysContract, KeysHarness
from tests.queues import redis_store
from tests.servers import REDIS_URL, require_server
from tests.stubs import FakeClock


def memory_harness() -> tuple[KeysHarness, Callable[[], None]]:
    clock = FakeClock()
    keys = MemoryIdempotencyKeys(ttl=60.0, max_keys=1000, clock=clock)
    return KeysHarness(keys, ttl=60.0, lease=5.0, let_time_pass=clock.advance), lambda: None


def redis_harness() -> tuple[KeysHarness, Callable[[], None]]:
    # The shared server: each test keeps to keys under a prefix of its own. Short times, really slept.
    require_server("Redis", REDIS_URL)
    prefix = f"test:{uuid4().hex}:"
    store = redis_store(REDIS_URL, key_prefix=prefix)
    keys = RedisIdempotencyKeys(store, ttl=1.0, key_prefix=prefix)

    def close() -> None:
        asyncio.run(store.aclose())
        with redis.Redis.from_url(REDIS_URL, socket_timeout=5.0) as client:
            found = list(client.scan_iter(match=f"{prefix}*", count=1000))
            if found:
                client.delete(*found)

    return KeysHarness(keys, ttl=1.0, lease=0.3, let_time_pass=time.sleep), close


class TestIdempotencyKeysContract(IdempotencyKeysContract):
    @pytest.fixture(
        params=[
            pytest.param(memory_harness, id="memory"),
            pytest.param(redis_harness, id="redis", marks=pytest.mark.server),
        ]
    )
    def subject(self, request: pytest.FixtureRequest) -> Iterator[KeysHarness]:
        harness, close = request.param()
        try:
            yield harness
        finally:
            close()
