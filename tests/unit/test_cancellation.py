"""Cancel through the HTTP API, on the memory container with a stub model that records what it ran."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from entrypoints.settings import WorkerSettings
from tests.conftest import MakeClient
from tests.harness import SUBMIT
from tests.harness.ledger import Submission, account
from tests.images import png_bytes
from tests.stubs import FailingQueue, GatedScores, StubClassifier


def one_at_a_time(
    make_client: MakeClient, scores: Callable[[bytes], list[float]], **overrides: Any
) -> TestClient:
    # One request per batch: one in the model, the next started behind it, the rest in the queue.
    worker = WorkerSettings(max_batch_size=1, batches_in_flight=1, prefetch_batches=1)
    return make_client(classifier=StubClassifier(scores=scores), worker=worker, **overrides)


def submit_png(client: TestClient, image: bytes) -> str:
    response = client.post(SUBMIT, files={"image": ("x.png", image, "image/png")})
    assert response.status_code == 202, response.text
    return str(response.json()["request_id"])


def wait_for_status(client: TestClient, request_id: str, status: str) -> None:
    for _ in range(500):
        if client.get(f"{SUBMIT}/{request_id}/results").json()["status"] == status:
            return
        time.sleep(0.01)
    raise AssertionError(f"{request_id} never became {status}")


def test_of_fifty_queued_requests_exactly_the_twenty_four_canceled_never_run(make_client: MakeClient) -> None:
    model = GatedScores()
    client = one_at_a_time(make_client, model)
    images = [png_bytes(colour=(i, 100, 100)) for i in range(50)]
    ledger = [Submission(202, request_id=submit_png(client, image)) for image in images]
    ids = [str(s.request_id) for s in ledger]
    # The model holds the first, the worker has started the second (next in line for the model);
    # 48 wait in the queue behind them.
    wait_for_status(client, ids[0], "processing")
    wait_for_status(client, ids[1], "processing")

    canceled = set(ids[2::2])  # 24 of the queued ones
    for request_id in canceled:
        response = client.post(f"{SUBMIT}/{request_id}/cancel")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "canceled"
    model.gate.set()
    for submission in ledger:
        response = client.get(f"{SUBMIT}/{submission.request_id}/results", params={"wait": 10})
        submission.record = response.json()

    statuses = {s.request_id: s.record["status"] for s in ledger if s.record}
    assert {rid for rid, status in statuses.items() if status == "canceled"} == canceled
    assert {rid for rid, status in statuses.items() if status == "succeeded"} == set(ids) - canceled
    ran = [images[0], *images[1::2]]
    assert sorted(model.ran) == sorted(ran)  # the model ran the other 26, each once
    report = account(ledger)
    assert (report.lost, report.duplicated, report.canceled, report.succeeded) == ([], [], 24, 26)


def test_a_request_canceled_while_processing_keeps_canceled_and_its_result_is_discarded(
    make_client: MakeClient,
) -> None:
    model = GatedScores()
    queue = FailingQueue()
    client = one_at_a_time(make_client, model, queue_adapter=queue)
    request_id = submit_png(client, png_bytes())
    wait_for_status(client, request_id, "processing")

    canceled = client.post(f"{SUBMIT}/{request_id}/cancel").json()
    model.gate.set()
    # The model finishes its run; its result finds the record terminal, and the message is acked.
    for _ in range(500):
        if model.ran and queue.depth == 0:
            break
        time.sleep(0.01)
    assert model.ran and queue.depth == 0

    after = client.get(f"{SUBMIT}/{request_id}/results").json()
    assert canceled["status"] == after["status"] == "canceled"
    assert after["result"] is None
    assert after["completed_at"] == canceled["completed_at"]


def test_canceling_a_finished_request_answers_409_with_its_status(client: TestClient) -> None:
    request_id = submit_png(client, png_bytes())
    client.get(f"{SUBMIT}/{request_id}/results", params={"wait": 5})

    response = client.post(f"{SUBMIT}/{request_id}/cancel")

    assert response.status_code == 409
    assert response.json()["code"] == "already_terminal"
    assert response.json()["status"] == "succeeded"


def test_canceling_twice_answers_409_the_second_time(make_client: MakeClient) -> None:
    client = make_client(started=False)
    request_id = submit_png(client, png_bytes())

    first = client.post(f"{SUBMIT}/{request_id}/cancel")
    second = client.post(f"{SUBMIT}/{request_id}/cancel")

    assert first.status_code == 200
    assert (second.status_code, second.json()["status"]) == (409, "canceled")


@pytest.mark.parametrize(
    ("request_id", "status", "code"),
    [
        ("00000000-0000-4000-8000-000000000000", 404, "unknown_request"),
        ("not-a-uuid", 422, "invalid_request_id"),
    ],
)
def test_canceling_an_unknown_or_malformed_id_is_refused(
    client: TestClient, request_id: str, status: int, code: str
) -> None:
    response = client.post(f"{SUBMIT}/{request_id}/cancel")

    assert (response.status_code, response.json()["code"]) == (status, code)


def test_a_cancel_is_counted_among_the_results_by_its_status(make_client: MakeClient) -> None:
    client = make_client(started=False)
    client.post(f"{SUBMIT}/{submit_png(client, png_bytes())}/cancel")

    assert 'inference_results_total{code="none",status="canceled"} 1.0' in client.get("/metrics").text
