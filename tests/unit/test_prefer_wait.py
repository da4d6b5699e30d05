"""`Prefer: wait=N` on a submission: the result in the POST's answer when it is ready in time,
else the plain 202; never a refusal of a request that was accepted."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.datastructures import Headers
from starlette.requests import Request

from entrypoints.client import Client
from entrypoints.container import Container
from entrypoints.embedded import create_embedded_app
from entrypoints.http.prefer_wait import preferred_wait
from entrypoints.http.stopping import Stopping
from inference.domain import RequestId, RequestRecord
from tests.conftest import MakeClient
from tests.harness import SUBMIT
from tests.images import png_bytes
from tests.service import memory_container, transport_to
from tests.stubs import FailingResultStore, GatedScores, StubClassifier


def _submit(client: TestClient, prefer: str | None) -> Any:  # the test client's response type
    headers = {"prefer": prefer} if prefer is not None else {}
    return client.post(SUBMIT, files={"image": png_bytes()}, headers=headers)


def test_a_result_ready_within_the_wait_is_the_answer(client: TestClient) -> None:
    response = _submit(client, "wait=5")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "succeeded" and body["result"]["label"] == "cat"
    assert response.headers["location"] == f"{SUBMIT}/{body['request_id']}/results"
    assert response.headers["preference-applied"] == "wait=5"
    assert client.get(response.headers["location"]).json() == body  # the same record as a read


def test_a_result_not_ready_in_time_gets_the_plain_202_after_the_wait(make_client: MakeClient) -> None:
    client = make_client(started=False)  # no worker: nothing finishes
    began = time.monotonic()

    response = _submit(client, "respond-async, wait=1")

    assert response.status_code == 202
    assert time.monotonic() - began >= 0.9
    assert response.headers["preference-applied"] == "wait=1"
    assert client.get(response.json()["results_url"]).json()["status"] == "queued"


@pytest.mark.parametrize("prefer", [None, "respond-async", "wait=soon", "wait=0", "wait=-1"])
def test_without_a_usable_wait_the_answer_is_the_202_at_once(
    make_client: MakeClient, prefer: str | None
) -> None:
    client = make_client(started=False)
    began = time.monotonic()

    response = _submit(client, prefer)

    assert response.status_code == 202
    assert time.monotonic() - began < 0.5
    assert "preference-applied" not in response.headers


def test_a_store_that_fails_during_the_wait_still_answers_202(make_client: MakeClient) -> None:
    store = FailingResultStore()
    client = make_client(started=False, store_adapter=store)
    original = store.wait_for_terminal

    async def failing_wait(request_id: RequestId, timeout: float) -> RequestRecord:
        store.down = True
        try:
            return await original(request_id, timeout)
        finally:
            store.down = False

    store.wait_for_terminal = failing_wait  # type: ignore[method-assign]

    response = _submit(client, "wait=5")

    assert response.status_code == 202, response.text  # accepted: its client must learn its id
    assert client.get(response.json()["results_url"]).json()["status"] == "queued"


def test_a_server_asked_to_stop_answers_its_waiting_submissions_202_at_once() -> None:
    model = GatedScores()  # nothing finishes until the gate opens: the submission would wait 10 s
    app = create_embedded_app(memory_container(classifier=StubClassifier(scores=model)))
    app.state.stopping = stopping = Stopping()
    answers: list[Any] = []
    with TestClient(app) as client:
        submitting = threading.Thread(target=lambda: answers.append(_submit(client, "wait=10")))
        submitting.start()
        submitting.join(timeout=1)
        assert submitting.is_alive()
        assert client.portal is not None
        client.portal.call(stopping.set)  # as StoppingServer does on SIGTERM, on the app's loop
        submitting.join(timeout=3)
        answered_in_time = not submitting.is_alive()
        began = time.monotonic()
        late = _submit(client, "wait=10")  # once stopping, no submission waits at all
        late_seconds = time.monotonic() - began
        model.gate.set()

    assert answered_in_time and [answer.status_code for answer in answers] == [202]
    assert late.status_code == 202 and late_seconds < 2


def test_the_stopping_future_completes_when_the_event_is_set() -> None:
    async def scenario() -> None:
        stopping = Stopping()
        future = stopping.as_future()
        assert not future.done() and stopping.as_future() is future
        asyncio.get_running_loop().call_later(0.01, stopping.set)
        await asyncio.wait_for(future, 1)

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([("prefer", "wait=10")], 10),
        ([("prefer", "respond-async, wait=7")], 7),
        ([("prefer", "WAIT = 3 ;  foo=bar")], 3),
        ([("prefer", 'wait="4"')], 4),
        ([("prefer", "wait=120")], 30),  # no longer than a long-poll
        ([("prefer", "respond-async"), ("prefer", "wait=2, wait=9")], 2),  # the first one counts
        ([("prefer", "wait=1.5")], None),  # delta-seconds are whole
        ([("prefer", "handling=lenient")], None),
        ([], None),
    ],
)
def test_the_wait_preference_is_read_as_rfc_7240_writes_it(
    headers: list[tuple[str, str]], expected: int
) -> None:
    raw = Headers(raw=[(name.encode(), value.encode()) for name, value in headers]).raw
    request = Request({"type": "http", "method": "POST", "path": "/", "headers": raw})

    assert preferred_wait(request, 30.0) == expected


def test_the_client_classifies_with_one_request_when_the_result_is_quick(container: Container) -> None:
    seen: list[str] = []
    with TestClient(create_embedded_app(container)) as app:
        inner = transport_to(app)

        def counting(request: httpx.Request) -> httpx.Response:
            seen.append(f"{request.method} {request.headers.get('prefer')}")
            return inner.handle_request(request)

        with Client("http://service.test", transport=httpx.MockTransport(counting)) as client:
            result = client.classify(png_bytes(), timeout=20)

    assert result.label == "cat"
    assert seen == ["POST wait=20"]
