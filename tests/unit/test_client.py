"""The Python client against the in-memory service: AsyncClient over httpx's ASGI transport, Client
over a transport into a TestClient (the stub classifier answers cat > dog > fish)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from dependency_injector import providers
from fastapi.testclient import TestClient

from entrypoints.client import AsyncClient, Client, RequestFailed, Result, ServiceError, WaitTimeout
from entrypoints.container import Container, create_container
from entrypoints.embedded import create_embedded_app
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.images import png_bytes
from tests.service import transport_to
from tests.stubs import StubClassifier, undecodable_image

URL = "http://service.test"


@pytest.fixture
def service(container: Container) -> Iterator[Client]:
    with (
        TestClient(create_embedded_app(container)) as app,
        Client(URL, transport=transport_to(app)) as client,
    ):
        yield client


def test_classify_returns_a_typed_result_best_label_first(service: Client) -> None:
    result = service.classify(png_bytes(), top_k=2)

    assert isinstance(result, Result)
    assert (result.label, [item.label for item in result.scores]) == ("cat", ["cat", "dog"])
    assert result.score == result.scores[0].score > result.scores[1].score
    assert (result.model_name, result.model_version) == ("stub-net", "1")


def test_submit_takes_a_path_bytes_or_a_binary_file(service: Client, tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(png_bytes())

    jobs = [service.submit(path), service.submit(str(path)), service.submit(png_bytes())]
    with path.open("rb") as file:
        jobs.append(service.submit(file))
    jobs.append(service.submit(io.BytesIO(png_bytes())))

    assert len({job.request_id for job in jobs}) == 5
    assert [job.wait(timeout=10).label for job in jobs] == ["cat"] * 5


def test_a_refused_upload_raises_with_the_servers_code(service: Client) -> None:
    with pytest.raises(ServiceError) as refused:
        service.submit(b"plain text, not an image")

    assert (refused.value.status, refused.value.code) == (415, "unsupported_media_type")


def test_an_image_the_worker_cannot_classify_raises_request_failed(service: Client) -> None:
    with pytest.raises(RequestFailed) as failed:
        service.classify(undecodable_image(), timeout=10)

    assert failed.value.code == "invalid_image"


def test_classify_many_yields_every_image_once_with_its_own_outcome(service: Client) -> None:
    images = [png_bytes(), undecodable_image(), b"not an image", png_bytes(), png_bytes()]

    outcomes = list(service.classify_many(images, concurrency=2, timeout=10))

    assert sorted(outcome.source for outcome in outcomes) == [f"#{i}" for i in range(5)]
    by_source = {outcome.source: outcome for outcome in outcomes}
    assert [by_source[f"#{i}"].result is not None for i in range(5)] == [True, False, False, True, True]
    assert getattr(by_source["#1"].error, "code", None) == "invalid_image"
    assert getattr(by_source["#2"].error, "code", None) == "unsupported_media_type"


def test_wait_gives_up_after_its_timeout_when_no_worker_runs(container: Container) -> None:
    with TestClient(create_app(container)) as app, Client(URL, transport=transport_to(app)) as client:
        job = client.submit(png_bytes())
        with pytest.raises(WaitTimeout):
            job.wait(timeout=0.3)
        assert client.status(job.request_id).status == "queued"


def test_a_busy_answer_is_retried_after_the_servers_retry_after(
    service: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter([429, 503])
    slept: list[float] = []
    real = service._http._transport

    def busy_twice(request: httpx.Request) -> httpx.Response:
        status = next(answers, None)
        if status is None:
            return real.handle_request(request)
        body = {"detail": "busy", "code": "queue_full"}
        return httpx.Response(status, json=body, headers={"Retry-After": "3"})

    service._http._transport = httpx.MockTransport(busy_twice)
    monkeypatch.setattr("entrypoints.client.sync.time.sleep", slept.append)
    monkeypatch.setattr("entrypoints.client.results.random.uniform", lambda low, high: 1.0)

    assert service.submit(png_bytes()).wait(timeout=10).label == "cat"
    assert slept == [3.0, 6.0]  # the server's hint, then backing off from it


def test_retries_stop_with_the_servers_error_once_spent(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[httpx.Request] = []

    def always_busy(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503, json={"detail": "down", "code": "queue_unavailable"})

    monkeypatch.setattr("entrypoints.client.sync.time.sleep", lambda seconds: None)
    with (
        Client(URL, retries=2, transport=httpx.MockTransport(always_busy)) as client,
        pytest.raises(ServiceError) as refused,
    ):
        client.submit(png_bytes())

    assert (refused.value.code, len(calls)) == ("queue_unavailable", 3)


@asynccontextmanager
async def _async_service(container: Container) -> AsyncIterator[AsyncClient]:
    app = create_embedded_app(container)
    # httpx's ASGI transport sends no lifespan events: the app's lifespan (its worker) runs here.
    async with (
        app.router.lifespan_context(app),
        AsyncClient(URL, transport=httpx.ASGITransport(app=app)) as client,
    ):
        yield client


def test_the_async_client_classifies_and_waits_with_the_long_poll(container: Container) -> None:
    async def scenario() -> tuple[str, str, list[str]]:
        async with _async_service(container) as client:
            job = await client.submit(png_bytes(), top_k=3)
            result = await job.wait(timeout=10)
            again = await client.classify(png_bytes(), top_k=1)
            return result.label, again.label, [item.label for item in result.scores]

    assert asyncio.run(scenario()) == ("cat", "cat", ["cat", "dog", "fish"])


def test_the_async_classify_many_reports_each_image_as_it_completes() -> None:
    container = create_container(Settings(mode="embedded"))
    stub = StubClassifier(labels=("cat", "dog", "fish"))

    async def scenario() -> dict[str, str]:
        with container.classifier.override(providers.Object(stub)):
            async with _async_service(container) as client:
                images = [png_bytes(), b"text", undecodable_image()]
                return {
                    outcome.source: outcome.result.label if outcome.result else str(outcome.error.code)  # type: ignore[union-attr]
                    async for outcome in client.classify_many(images, concurrency=2, timeout=10)
                }

    assert asyncio.run(scenario()) == {"#0": "cat", "#1": "unsupported_media_type", "#2": "invalid_image"}
