"""Long-polls in the embedded mode wake only for their own request (issue: a thousand open
`wait=30` GETs were all re-checked on every write, and POST throughput fell tenfold)."""

from __future__ import annotations

import asyncio
import functools
import threading

from adapters.memory import MemoryResultStore
from adapters.wakeup import WakeUp
from inference.domain import RequestId, RequestRecord
from inference.transitions import Start
from tests.queues import STORE, transition
from tests.stubs import a_record


def test_firing_a_key_rechecks_only_the_waiters_of_that_key() -> None:
    lock = threading.Lock()
    wakeup = WakeUp(lock)
    checks = {"a": 0, "b": 0}
    ready = {"a": False, "b": False}

    def check(key: str) -> bool | None:
        checks[key] += 1
        return True if ready[key] else None

    async def scenario() -> None:
        waiting = [
            asyncio.create_task(wakeup.wait_for(functools.partial(check, k), 5.0, key=k)) for k in "ab"
        ]
        await asyncio.sleep(0.05)
        assert checks == {"a": 1, "b": 1}
        with lock:
            ready["a"] = True
            wakeup.fire("a")
        assert await asyncio.wait_for(waiting[0], 1.0) is True
        assert checks == {"a": 2, "b": 1}  # b was never woken
        with lock:
            ready["b"] = True
            wakeup.fire()  # no key: everyone
        assert await asyncio.wait_for(waiting[1], 1.0) is True

    asyncio.run(scenario())


class CountingStore(MemoryResultStore):
    """Counts every lookup of a record, which is what each woken long-poll does."""

    def __init__(self) -> None:
        super().__init__(STORE.ttl_seconds, STORE.max_records)
        self.lookups: dict[RequestId, int] = {}

    def _require(self, request_id: RequestId) -> RequestRecord:
        self.lookups[request_id] = self.lookups.get(request_id, 0) + 1
        return super()._require(request_id)


def test_writes_to_one_request_do_not_wake_the_long_polls_of_others() -> None:
    async def scenario() -> None:
        store = CountingStore()
        parked = [a_record() for _ in range(200)]
        busy = a_record()
        for record in [*parked, busy]:
            await store.add(record)
        polls = [asyncio.create_task(store.wait_for_terminal(r.request_id, 30.0)) for r in parked]
        await asyncio.sleep(0.1)
        before = {r.request_id: store.lookups[r.request_id] for r in parked}

        for _ in range(20):  # a busy request's writes
            await store.add(a_record())
        await transition(store, busy.request_id, Start(busy.created_at))
        await asyncio.sleep(0.1)

        assert {r.request_id: store.lookups[r.request_id] for r in parked} == before
        for poll in polls:
            poll.cancel()
        await asyncio.gather(*polls, return_exceptions=True)

    asyncio.run(scenario())
