"""The WorkerRegistry port's contract, written once for every adapter.

A test module subclasses WorkerRegistryContract and provides a `subject` fixture (a
RegistryHarness), parametrized by adapter ("memory" and "redis").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from inference.ports import WorkerRegistry
from inference.worker_info import WorkerInfo


@dataclass
class RegistryHarness:
    registry: WorkerRegistry
    ttl: float
    let_time_pass: Callable[[float], None]
    close: Callable[[], None] = lambda: None


def a_worker(id: str = "worker-a", **changes: object) -> WorkerInfo:
    worker = WorkerInfo(
        id=id,
        host="host-1",
        pid=4242,
        model="shapes",
        model_version="1",
        backend="openvino",
        batch_size=4,
        started_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    return replace(worker, **changes)  # type: ignore[arg-type]


def live(registry: WorkerRegistry) -> list[WorkerInfo]:
    return asyncio.run(registry.live())


def beat(registry: WorkerRegistry, worker: WorkerInfo) -> None:
    asyncio.run(registry.heartbeat(worker))


class WorkerRegistryContract:
    def test_an_empty_registry_lists_no_worker(self, subject: RegistryHarness) -> None:
        assert live(subject.registry) == []

    def test_a_worker_that_beat_is_listed_as_it_described_itself(self, subject: RegistryHarness) -> None:
        worker = a_worker(last_batch_at=datetime(2026, 1, 2, 3, 5, tzinfo=UTC))
        before = datetime.now(UTC)
        beat(subject.registry, worker)
        [listed] = live(subject.registry)
        assert replace(listed, seen_at=None) == worker
        assert listed.seen_at is not None and listed.seen_at >= before

    def test_workers_are_listed_once_each_sorted_by_id(self, subject: RegistryHarness) -> None:
        for id in ("worker-c", "worker-a", "worker-b", "worker-a"):
            beat(subject.registry, a_worker(id))
        assert [worker.id for worker in live(subject.registry)] == ["worker-a", "worker-b", "worker-c"]

    def test_a_heartbeat_replaces_what_the_worker_said_before(self, subject: RegistryHarness) -> None:
        beat(subject.registry, a_worker())
        later = datetime(2026, 1, 2, 4, 0, tzinfo=UTC)
        beat(subject.registry, a_worker(last_batch_at=later))
        [listed] = live(subject.registry)
        assert listed.last_batch_at == later

    def test_a_worker_that_stops_beating_drops_out_within_the_ttl(self, subject: RegistryHarness) -> None:
        beat(subject.registry, a_worker("silent"))
        subject.let_time_pass(subject.ttl * 0.5)
        beat(subject.registry, a_worker("beating"))
        assert [worker.id for worker in live(subject.registry)] == ["beating", "silent"]
        subject.let_time_pass(subject.ttl * 0.6)
        assert [worker.id for worker in live(subject.registry)] == ["beating"]

    def test_a_heartbeat_keeps_a_worker_live_past_its_first_ttl(self, subject: RegistryHarness) -> None:
        for _ in range(4):
            beat(subject.registry, a_worker())
            subject.let_time_pass(subject.ttl * 0.4)
        assert [worker.id for worker in live(subject.registry)] == ["worker-a"]

    def test_a_worker_that_expired_and_beats_again_is_listed_again(self, subject: RegistryHarness) -> None:
        beat(subject.registry, a_worker())
        subject.let_time_pass(subject.ttl * 1.2)
        assert live(subject.registry) == []
        beat(subject.registry, a_worker())
        assert [worker.id for worker in live(subject.registry)] == ["worker-a"]

    def test_a_deregistered_worker_drops_out_at_once(self, subject: RegistryHarness) -> None:
        beat(subject.registry, a_worker("leaving"))
        beat(subject.registry, a_worker("staying"))
        asyncio.run(subject.registry.deregister("leaving"))
        asyncio.run(subject.registry.deregister("never-there"))
        assert [worker.id for worker in live(subject.registry)] == ["staying"]
