"""The ResultStore contract, run against each adapter; plus what only the memory adapter promises."""

from __future__ import annotations

import asyncio

import pytest

from adapters.memory import MemoryResultStore
from inference.errors import StoreUnavailable
from tests.contract.result_store_contract import ResultStoreContract, StoreHarness, a_record
from tests.stubs import FakeClock


def memory_harness() -> StoreHarness:
    # One instance is safe to share across threads and event loops, so it is its own peer.
    clock = FakeClock()
    store = MemoryResultStore(ttl=60.0, clock=clock)
    return StoreHarness(store=store, ttl=60.0, let_time_pass=clock.advance, connect=lambda: store)


class TestResultStoreContract(ResultStoreContract):
    # A "redis" parameter joins here, with a TTL of about a second and a skip when no server answers.
    @pytest.fixture(params=[pytest.param(memory_harness, id="memory")])
    def subject(self, request: pytest.FixtureRequest) -> StoreHarness:
        harness: StoreHarness = request.param()
        return harness


# --- Memory adapter only: its bound. ---


def test_a_full_memory_store_refuses_new_records_as_unavailable() -> None:
    async def scenario() -> None:
        store = MemoryResultStore(max_records=2)
        await store.add(a_record())
        await store.add(a_record())
        with pytest.raises(StoreUnavailable):
            await store.add(a_record())

    asyncio.run(scenario())


def test_a_full_memory_store_makes_room_by_dropping_expired_records() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        store = MemoryResultStore(ttl=10.0, max_records=2, clock=clock)
        old = a_record()
        await store.add(old)
        await store.add(a_record())
        clock.advance(11.0)
        assert await store.add(a_record()) is True

    asyncio.run(scenario())
