"""The worker loop through the real container (memory mode): batching and graceful stop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from fastapi.testclient import TestClient

from entrypoints.container import Container
from entrypoints.embedded import create_embedded_app
from entrypoints.settings import WorkerSettings
from entrypoints.worker import create_worker_loop
from inference.domain import RequestRecord, RequestStatus
from tests.harness import SUBMIT
from tests.images import png_bytes
from tests.service import memory_container
from tests.stubs import StubClassifier


def _container(classifier: StubClassifier, max_batch_size: int = 4, in_flight: int = 1) -> Container:
    worker = WorkerSettings(max_batch_size=max_batch_size, max_batch_wait_ms=50, batches_in_flight=in_flight)
    return memory_container(classifier=classifier, worker=worker)


def test_the_worker_classifies_in_batches_no_larger_than_the_configured_size() -> None:
    classifier = StubClassifier()
    container = _container(classifier, max_batch_size=4)

    async def scenario() -> list[RequestStatus]:
        records = [await container.submit_request()(png_bytes(), 1) for _ in range(10)]
        worker = create_worker_loop(container)
        task = asyncio.create_task(worker.run())
        finished = [await container.get_result()(r.request_id, wait=5) for r in records]
        worker.stop()
        await task
        return [record.status for record in finished]

    statuses = asyncio.run(scenario())

    assert statuses == [RequestStatus.SUCCEEDED] * 10
    assert classifier.batch_sizes == [4, 4, 2]


def test_a_stopping_worker_finishes_and_acknowledges_the_batch_in_hand() -> None:
    started = asyncio.Event()

    def slow_scores(_: bytes) -> list[float]:
        loop.call_soon_threadsafe(started.set)
        time.sleep(0.3)  # the stop request arrives while the model is busy
        return [0.7, 0.2, 0.1]

    classifier = StubClassifier(scores=slow_scores)
    container = _container(classifier, max_batch_size=2)

    async def scenario() -> tuple[list[RequestStatus], int]:
        records = [await container.submit_request()(png_bytes(), 1) for _ in range(2)]
        worker = create_worker_loop(container)
        task = asyncio.create_task(worker.run())
        await started.wait()
        worker.stop()
        await asyncio.wait_for(task, 10)
        statuses = [(await container.get_result()(r.request_id)).status for r in records]
        return statuses, container.consumer().depth

    loop = asyncio.new_event_loop()
    try:
        statuses, depth = loop.run_until_complete(scenario())
    finally:
        loop.close()

    assert statuses == [RequestStatus.SUCCEEDED] * 2
    assert depth == 0  # acknowledged, nothing left to redeliver


def test_a_stopped_worker_leaves_unstarted_requests_queued_for_the_next_one() -> None:
    classifier = StubClassifier()
    container = _container(classifier)

    async def scenario() -> tuple[int, RequestStatus]:
        worker = create_worker_loop(container)
        worker.stop()
        await worker.run()  # stops at once
        record = await container.submit_request()(png_bytes(), 1)
        return container.consumer().depth, (await container.get_result()(record.request_id)).status

    depth, status = asyncio.run(scenario())

    assert (depth, status) == (1, RequestStatus.QUEUED)


def test_a_running_worker_marks_the_request_of_a_dead_letter_failed() -> None:
    container = _container(StubClassifier())

    async def scenario() -> RequestRecord:
        record = await container.submit_request()(png_bytes(), 1)
        queue = container.consumer()
        [delivery] = await queue.receive(max_count=1, fill_wait=0.0, idle_wait=1.0)
        await queue.reject(delivery, requeue=False)  # the queue gives up on it
        worker = create_worker_loop(container)
        task = asyncio.create_task(worker.run())
        finished = await container.get_result()(record.request_id, wait=5)
        worker.stop()
        await task
        return finished

    record = asyncio.run(scenario())

    assert record.status is RequestStatus.FAILED
    assert record.failure is not None and record.failure.code == "rejected"


def test_a_running_worker_keeps_its_heartbeat_file_fresh(tmp_path: Path) -> None:
    heartbeat = tmp_path / "worker.heartbeat"
    container = memory_container(worker=WorkerSettings(heartbeat_file=heartbeat))

    async def scenario() -> None:
        worker = create_worker_loop(container)
        task = asyncio.create_task(worker.run())
        await asyncio.sleep(0.5)  # the loop beats as it starts, then at most once a second
        worker.stop()
        await task

    asyncio.run(asyncio.wait_for(scenario(), 10))

    assert time.time() - heartbeat.stat().st_mtime < 10


def test_an_embedded_app_started_a_second_time_still_finishes_every_request() -> None:
    # Tools that load the OpenAPI document run the app's lifespan once before the real start;
    # the worker of a second start must not inherit the stopped one's state (found by
    # schemathesis: requests stayed queued for ever).
    container = _container(StubClassifier())
    app = create_embedded_app(container)
    with TestClient(app):
        pass
    with TestClient(app) as client:
        ids = [
            client.post(SUBMIT, content=png_bytes(), headers={"content-type": "image/png"}).json()[
                "request_id"
            ]
            for _ in range(12)
        ]
        statuses = [client.get(f"{SUBMIT}/{i}/results", params={"wait": 10}).json()["status"] for i in ids]

    assert statuses == ["succeeded"] * 12


def test_with_two_batches_in_flight_the_next_batch_reaches_the_classifier_while_one_is_in_it() -> None:
    inside, most_inside = 0, 0

    def busy_scores(_: bytes) -> list[float]:
        nonlocal inside, most_inside
        inside += 1
        most_inside = max(most_inside, inside)
        time.sleep(0.1)
        inside -= 1
        return [0.7, 0.2, 0.1]

    classifier = StubClassifier(scores=busy_scores)
    container = _container(classifier, max_batch_size=2, in_flight=2)

    async def scenario() -> list[RequestStatus]:
        records = [await container.submit_request()(png_bytes(), 1) for _ in range(8)]
        worker = create_worker_loop(container)
        task = asyncio.create_task(worker.run())
        finished = [await container.get_result()(r.request_id, wait=10) for r in records]
        worker.stop()
        await task
        return [record.status for record in finished]

    assert asyncio.run(scenario()) == [RequestStatus.SUCCEEDED] * 8
    assert most_inside == 2  # (the stub is thread-safe enough; a real classifier serialises its model)
    assert sorted(classifier.batch_sizes) == [2, 2, 2, 2]
