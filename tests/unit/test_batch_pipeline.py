"""The worker's batches as a pipeline (`entrypoints.batch_pipeline`), through the real container
in memory mode: the next batch is started while the model runs one, enters the model before the
last one's outcomes are stored, and fills as it did; a stop finishes the batches in hand."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from entrypoints.container import Container
from entrypoints.settings import WorkerSettings
from entrypoints.worker import create_worker_loop
from inference.domain import RequestId, RequestRecord
from inference.errors import InvalidTransition, UnknownRequest
from inference.ports import ResultStore
from inference.transitions import Succeed, Transition
from tests.images import png_bytes
from tests.service import memory_container
from tests.stubs import GatedScores, StubClassifier

T = TypeVar("T")


def _container(classifier: StubClassifier, max_batch_size: int) -> Container:
    worker = WorkerSettings(max_batch_size=max_batch_size, prefetch_batches=4)
    return memory_container(classifier=classifier, worker=worker)


async def _until(condition: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await condition():
        assert loop.time() < deadline, "the condition never held"
        await asyncio.sleep(0.01)


def _statuses(container: Container, records: Sequence[RequestRecord]) -> Callable[[], Awaitable[list[str]]]:
    async def read() -> list[str]:
        return [(await container.get_result()(r.request_id)).status.value for r in records]

    return read


def test_the_next_batch_is_started_while_the_model_runs_one_and_every_request_then_succeeds() -> None:
    model = GatedScores()
    classifier = StubClassifier(scores=model)
    container = _container(classifier, max_batch_size=2)

    async def scenario() -> tuple[list[str], list[str]]:
        records = [await container.submit_request()(png_bytes(colour=(i, 0, 0)), 1) for i in range(6)]
        statuses = _statuses(container, records)
        worker = create_worker_loop(container)
        task = asyncio.create_task(worker.run())
        # Two in the model, the next two started behind them; the last two still queued.
        await _until(lambda: _equals(statuses(), ["processing"] * 4 + ["queued"] * 2))
        while_gated = await statuses()
        model.gate.set()
        finished = [await container.get_result()(r.request_id, wait=5) for r in records]
        worker.stop()
        await task
        return while_gated, [record.status.value for record in finished]

    while_gated, finished = asyncio.run(scenario())

    assert while_gated == ["processing"] * 4 + ["queued"] * 2
    assert finished == ["succeeded"] * 6
    assert classifier.batch_sizes == [2, 2, 2]


class _HeldSuccesses:
    """A memory store whose transitions to succeeded wait for `release`: a slow store's write."""

    def __init__(self, container: Container) -> None:
        self.store: ResultStore = container.store()
        self.release = asyncio.Event()
        self.waiting = 0
        Outcomes = list[RequestRecord | InvalidTransition | UnknownRequest]
        transition: Callable[[Sequence[tuple[RequestId, Transition]]], Awaitable[Outcomes]]
        transition = self.store.transition

        async def held(
            transitions: Sequence[tuple[RequestId, Transition]],
        ) -> Outcomes:
            if any(isinstance(t, Succeed) for _, t in transitions):
                self.waiting += 1
                await self.release.wait()
            return await transition(transitions)

        self.store.transition = held


def test_the_next_batch_enters_the_model_while_the_last_ones_outcomes_wait_for_the_store() -> None:
    classifier = StubClassifier()
    container = _container(classifier, max_batch_size=2)

    async def scenario() -> tuple[list[int], int, int, list[str]]:
        held = _HeldSuccesses(container)
        records = [await container.submit_request()(png_bytes(colour=(i, 0, 0)), 1) for i in range(4)]
        worker = create_worker_loop(container)
        task = asyncio.create_task(worker.run())
        await _until(lambda: _value(len(classifier.batch_sizes) == 2 and held.waiting == 2))
        sizes, unacked = list(classifier.batch_sizes), container.consumer().unacked_count()
        stored_before = sum(s == "succeeded" for s in await _statuses(container, records)())
        held.release.set()
        finished = [await container.get_result()(r.request_id, wait=5) for r in records]
        worker.stop()
        await task
        return sizes, unacked, stored_before, [record.status.value for record in finished]

    sizes, unacked, stored_before, finished = asyncio.run(scenario())

    # Both batches went through the model while the first one's outcomes were not yet stored...
    assert sizes == [2, 2]
    assert stored_before == 0
    # ...and nothing was acknowledged before its outcome was.
    assert unacked == 4
    assert finished == ["succeeded"] * 4


def test_a_batch_fills_with_what_arrives_while_the_model_is_busy() -> None:
    model = GatedScores()
    classifier = StubClassifier(scores=model)
    container = _container(classifier, max_batch_size=4)

    async def scenario() -> list[str]:
        worker = create_worker_loop(container)
        task = asyncio.create_task(worker.run())
        first = await container.submit_request()(png_bytes(colour=(9, 9, 9)), 1)
        await _until(lambda: _equals(_statuses(container, [first])(), ["processing"]))
        later = []
        for i in range(4):  # one by one, while the model holds the first
            later.append(await container.submit_request()(png_bytes(colour=(i, 0, 0)), 1))
            await asyncio.sleep(0.05)
        model.gate.set()
        finished = [await container.get_result()(r.request_id, wait=5) for r in [first, *later]]
        worker.stop()
        await task
        return [record.status.value for record in finished]

    assert asyncio.run(scenario()) == ["succeeded"] * 5
    # The four that came one by one went to the model together, not as they came.
    assert classifier.batch_sizes == [1, 4]


def test_a_stopping_worker_finishes_the_batch_in_the_model_and_the_one_started_behind_it() -> None:
    model = GatedScores()
    container = _container(StubClassifier(scores=model), max_batch_size=1)

    async def scenario() -> tuple[list[str], int]:
        records = [await container.submit_request()(png_bytes(colour=(i, 0, 0)), 1) for i in range(3)]
        statuses = _statuses(container, records)
        worker = create_worker_loop(container)
        task = asyncio.create_task(worker.run())
        await _until(lambda: _equals(statuses(), ["processing", "processing", "queued"]))
        worker.stop()
        model.gate.set()
        await asyncio.wait_for(task, 10)
        return await statuses(), container.consumer().depth

    statuses, depth = asyncio.run(scenario())

    assert statuses == ["succeeded", "succeeded", "queued"]
    assert depth == 1  # the two in hand acknowledged; the third waits for the next worker


async def _equals(value: Awaitable[T], expected: T) -> bool:
    return await value == expected


async def _value(value: T) -> T:
    return value


def test_a_worker_cancelled_while_its_batch_is_in_the_model_abandons_the_batch() -> None:
    # (As when a stop runs out of time: the broker redelivers what the batch held.)
    model = GatedScores()
    container = _container(StubClassifier(scores=model), max_batch_size=1)

    async def scenario() -> tuple[bool, list[str], int]:
        records = [await container.submit_request()(png_bytes(), 1)]
        statuses = _statuses(container, records)
        worker = create_worker_loop(container)
        task = asyncio.create_task(worker.run())
        await _until(lambda: _equals(statuses(), ["processing"]))
        worker.stop()
        task.cancel()
        await asyncio.wait({task}, timeout=5)
        model.gate.set()  # the model's thread ends; nothing may store what it gives
        await asyncio.sleep(0.3)
        return task.cancelled(), await statuses(), container.consumer().depth

    cancelled, statuses, depth = asyncio.run(scenario())

    assert cancelled
    assert statuses == ["processing"]  # never stored, so never acknowledged
    assert depth == 1
