"""The WorkerRegistry contract, run against each adapter; plus what only Redis promises."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from uuid import uuid4

import pytest
import redis

from adapters.memory import MemoryWorkerRegistry
from adapters.redis import RedisWorkerRegistry
from inference.errors import StoreUnavailable
from tests.contract.worker_registry_contract import (
    RegistryHarness,
    WorkerRegistryContract,
    a_worker,
    beat,
    live,
)
from tests.servers import REDIS_URL, require_server
from tests.stubs import FakeClock

# Long enough that "still there after 0.5 ttl" survives a stalled machine, short enough that the
# expiry tests take seconds; expiry itself is exact on the server.
REDIS_TTL = 1.5


def memory_harness() -> RegistryHarness:
    clock = FakeClock()
    return RegistryHarness(MemoryWorkerRegistry(ttl=15.0, clock=clock), 15.0, clock.advance)


def redis_harness() -> RegistryHarness:
    require_server("Redis", REDIS_URL)
    prefix = f"test:{uuid4().hex}:"
    registry = RedisWorkerRegistry(REDIS_URL, ttl=REDIS_TTL, key_prefix=prefix, timeout=2.0)

    def close() -> None:
        with redis.Redis.from_url(REDIS_URL, socket_timeout=5.0) as client:
            keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
            if keys:
                client.delete(*keys)

    return RegistryHarness(registry, REDIS_TTL, time.sleep, close)


class TestWorkerRegistryContract(WorkerRegistryContract):
    @pytest.fixture(
        params=[
            pytest.param(memory_harness, id="memory"),
            pytest.param(redis_harness, id="redis", marks=pytest.mark.server),
        ]
    )
    def subject(self, request: pytest.FixtureRequest) -> Iterator[RegistryHarness]:
        harness: RegistryHarness = request.param()
        yield harness
        harness.close()


@pytest.mark.server
def test_redis_prunes_expired_workers_from_its_index() -> None:
    harness = redis_harness()
    try:
        beat(harness.registry, a_worker())
        harness.let_time_pass(harness.ttl * 1.2)
        assert live(harness.registry) == []
        index = f"{harness.registry._index}"  # type: ignore[attr-defined]
        with redis.Redis.from_url(REDIS_URL, socket_timeout=5.0) as client:
            assert client.scard(index) == 0
    finally:
        harness.close()


def test_an_unreachable_redis_registry_raises_store_unavailable() -> None:
    registry = RedisWorkerRegistry("redis://127.0.0.1:1/0", ttl=5.0, key_prefix="x:", timeout=0.5)
    with pytest.raises(StoreUnavailable):
        asyncio.run(registry.live())
    with pytest.raises(StoreUnavailable):
        asyncio.run(registry.heartbeat(a_worker()))
