"""`Prefer: wait=N` on a submission: the result in the POST's answer when it is ready in time,
else the plain 202; never a refusal of a request that was accepted."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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
from inference.errors import StoreUnavailable
from inference.ports import TerminalWatch
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


class WatchRecordingStore(FailingResultStore):
    """Lists, in order, when a watch is entered and left and when a record is added."""

    def __init__(self, *, can_listen: bool = True) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.can_listen = can_listen

    async def add(self, record: RequestRecord) -> bool:
        self.calls.append("add")
        return await super().add(record)

    @asynccontextmanager
    async def watch_terminal(self, request_id: RequestId) -> AsyncIterator[TerminalWatch]:
        if not self.can_listen:
            raise StoreUnavailable("the stub store cannot subscribe")
        self.calls.append("watch")
        async with super().watch_terminal(request_id) as watch:
            yield _RecordedWatch(watch, self.calls)
        self.calls.append("unwatch")


class _RecordedWatch(TerminalWatch):
    def __init__(self, inner: TerminalWatch, calls: list[str]) -> None:
        self._inner, self._calls = inner, calls

    async def terminal_within(self, timeout: float) -> RequestRecord | None:
        self._calls.append("terminal_within")
        return await self._inner.terminal_within(timeout)


def test_a_waiting_submission_watches_its_request_from_before_it_is_stored(make_client: MakeClient) -> None:
    store = WatchRecordingStore()
    client = make_client(store_adapter=store)

    response = _submit(client, "wait=5")

    assert response.status_code == 200, response.text
    # Watched before it is stored, so no transition can go unheard; its wait is the watch's.
    assert store.calls == ["watch", "add", "terminal_within", "unwatch"]
    assert response.json()["request_id"] == str(store.added_ids[0])


def test_a_store_that_cannot_listen_still_accepts_and_waits_by_reading(make_client: MakeClient) -> None:
    store = WatchRecordingStore(can_listen=False)
    client = make_client(store_adapter=store)

    response = _submit(client, "wait=5")

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "succeeded"
    assert store.calls == ["add"]


def test_a_replayed_submission_waits_for_the_first_submissions_result(make_client: MakeClient) -> None:
    client = make_client()
    key = {"idempotency-key": "order-7"}
    first = client.post(SUBMIT, files={"image": png_bytes()}, headers=key)
    assert first.status_code == 202

    replay = client.post(SUBMIT, files={"image": png_bytes()}, headers={**key, "prefer": "wait=5"})

    assert replay.status_code == 200, replay.text  # its watch was on an id never used: not that
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["request_id"] == first.json()["request_id"]
    assert replay.json()["status"] == "succeeded"


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
