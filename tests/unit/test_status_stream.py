"""The status stream (Server-Sent Events) of the embedded service, over the real container."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from fastapi.testclient import TestClient

from adapters.memory import MemoryQueue
from inference.domain import InferenceRequest
from inference.outcomes import Failure, Prediction
from inference.ports import Delivery
from inference.timings import BatchTimings
from tests.conftest import MakeClient
from tests.harness import SUBMIT
from tests.images import png_bytes
from tests.queues import QUEUE, WORKER
from tests.service import memory_container
from tests.sse import Event, events
from tests.stubs import StubClassifier


class HeldQueue(MemoryQueue):
    """A memory queue that hands out nothing until `release` is set."""

    def __init__(self) -> None:
        super().__init__(
            max_length=QUEUE.max_length,
            max_bytes=QUEUE.max_bytes,
            max_attempts=WORKER.max_attempts,
            max_parked=QUEUE.max_parked,
        )
        self.release = threading.Event()

    async def receive(self, max_count: int, fill_wait: float, idle_wait: float) -> list[Delivery]:
        if not await asyncio.to_thread(self.release.wait, idle_wait):
            return []
        return await super().receive(max_count, fill_wait, idle_wait)


class HeldClassifier(StubClassifier):
    """A stub classifier that answers only once `release` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def classify_timed(
        self, batch: Sequence[InferenceRequest]
    ) -> tuple[list[Prediction | Failure], BatchTimings]:
        self.release.wait(timeout=30)
        return super().classify_timed(batch)


def test_a_client_following_a_request_from_the_start_sees_queued_processing_succeeded(
    make_client: MakeClient,
) -> None:
    queue, classifier = HeldQueue(), HeldClassifier()
    client = make_client(memory_container(classifier=classifier, queue_adapter=queue))
    try:
        request_id = client.post(SUBMIT, files={"image": png_bytes()}).json()["request_id"]
        seen: list[Event] = []
        with client.stream("GET", f"{SUBMIT}/{request_id}/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            for event in events(stream.iter_lines()):
                seen.append(event)
                if event.data["status"] == "queued":
                    queue.release.set()  # the worker may take it now
                elif event.data["status"] == "processing":
                    classifier.release.set()
    finally:
        queue.release.set()
        classifier.release.set()
    assert [(e.event, e.data["status"]) for e in seen] == [
        ("status", "queued"),
        ("status", "processing"),
        ("status", "succeeded"),
    ]
    assert seen[-1].data == client.get(f"{SUBMIT}/{request_id}/results").json()  # the results' body
    assert len({e.id for e in seen}) == 3


def test_the_stream_of_a_finished_request_is_its_record_once(client: TestClient) -> None:
    request_id = client.post(SUBMIT, files={"image": png_bytes()}).json()["request_id"]
    record = client.get(f"{SUBMIT}/{request_id}/results", params={"wait": 5}).json()
    with client.stream("GET", f"{SUBMIT}/{request_id}/events") as stream:
        assert [e.data for e in events(stream.iter_lines())] == [record]


def test_the_stream_of_an_unfinished_request_ends_after_the_longest_connection_time(
    make_client: MakeClient,
) -> None:
    client = make_client(started=False, api={"events_seconds": 0.3})
    request_id = client.post(SUBMIT, files={"image": png_bytes()}).json()["request_id"]
    with client.stream("GET", f"{SUBMIT}/{request_id}/events") as stream:
        assert [e.data["status"] for e in events(stream.iter_lines())] == ["queued"]


def test_the_stream_of_an_unknown_request_is_a_404_in_json(client: TestClient) -> None:
    response = client.get(f"{SUBMIT}/00000000-0000-4000-8000-000000000000/events")
    assert response.status_code == 404
    assert response.json()["code"] == "unknown_request"
