"""The model's start-up: answering while it loads, and failing clearly when it cannot load.

The memory container with a classifier provider the test controls: one that blocks until
released (a slow first load, such as an ONNX export) or one that raises (bad weights, a precision
the device lacks).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from dependency_injector import providers
from fastapi.testclient import TestClient

from entrypoints.container import Container, create_container
from entrypoints.embedded import create_embedded_app
from entrypoints.settings import Settings
from entrypoints.startup_errors import ModelLoadError
from entrypoints.worker import serve_worker
from inference.ports import Classifier
from tests.images import png_bytes
from tests.stubs import StubClassifier

SUBMIT = "/api/inference/requests"
READY = "/api/health/ready"
# Long enough never to pass by itself on a loaded machine: the tests release the load themselves.
PATIENCE_SECONDS = 60.0

REASON = "precision fp16 needs a cuda device; on the CPU use bf16 (or fp32)"


def _container(load: Callable[[], Classifier]) -> Container:
    container = create_container(Settings(mode="embedded"))
    container.classifier.override(providers.Callable(load))
    return container


def _failing_load() -> Classifier:
    raise ValueError(f"{REASON}\n  (a second line of detail from deep inside the backend)")


def _model_check(client: TestClient) -> tuple[int, str]:
    """Readiness's status code and model check, once the model has left `loading` (or not)."""
    deadline = time.monotonic() + PATIENCE_SECONDS
    while True:
        answer = client.get(READY)
        state: str = answer.json()["checks"]["model"]
        if state != "loading" or time.monotonic() > deadline:
            return answer.status_code, state
        time.sleep(0.02)


class _SlowLoad:
    """A classifier load that holds its thread until the test releases it, as a first export does."""

    def __init__(self) -> None:
        self.started, self.release, self.finished = threading.Event(), threading.Event(), threading.Event()

    def __call__(self) -> Classifier:
        self.started.set()
        self.release.wait(PATIENCE_SECONDS)
        self.finished.set()
        return StubClassifier()


@pytest.fixture
def slow_load() -> Iterator[_SlowLoad]:
    load = _SlowLoad()
    yield load
    load.release.set()


def test_an_embedded_service_whose_model_fails_to_load_is_not_ready_and_refuses_submissions() -> None:
    with TestClient(create_embedded_app(_container(_failing_load))) as client:
        status, model = _model_check(client)
        readiness = client.get(READY).text
        submitted = client.post(SUBMIT, files={"image": ("cat.png", png_bytes())})
        described = client.get("/api/models")

    assert (status, model) == (503, "failed")
    assert "cuda" not in readiness  # the reason is in the log, not on a public endpoint
    assert submitted.status_code == 503
    assert submitted.json()["code"] == "model_unavailable"
    assert "Retry-After" in submitted.headers
    assert described.status_code == 200  # the model is described from its manifest all the same


def test_an_embedded_service_tells_its_runner_why_the_model_failed_in_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures: list[ModelLoadError] = []

    with TestClient(
        create_embedded_app(_container(_failing_load), on_model_failure=failures.append)
    ) as client:
        _model_check(client)

    assert [str(error) for error in failures] == [f"the model could not be loaded: {REASON}"]
    assert f"the model could not be loaded: {REASON}" in caplog.messages
    assert "Traceback" not in caplog.text


def test_a_service_started_again_after_a_failed_load_tries_the_model_again() -> None:
    attempts: list[int] = []

    def fail_first_time() -> Classifier:
        attempts.append(1)
        if len(attempts) == 1:
            _failing_load()
        return StubClassifier()

    app = create_embedded_app(_container(fail_first_time))
    with TestClient(app) as client:
        first = _model_check(client)
    with TestClient(app) as client:
        second = _model_check(client)
        submitted = client.post(SUBMIT, files={"image": ("cat.png", png_bytes())})

    assert (first, second) == ((503, "failed"), (200, "ok"))
    assert submitted.status_code == 202


def test_readiness_says_the_model_is_loading_until_it_has_loaded(slow_load: _SlowLoad) -> None:
    with TestClient(create_embedded_app(_container(slow_load))) as client:
        assert slow_load.started.wait(PATIENCE_SECONDS)
        while_loading = client.get(READY)
        slow_load.release.set()
        loaded = _model_check(client)

    assert while_loading.status_code == 503
    assert while_loading.json()["checks"]["model"] == "loading"
    assert loaded == (200, "ok")


def test_the_model_is_described_at_once_while_it_is_still_loading(slow_load: _SlowLoad) -> None:
    with TestClient(create_embedded_app(_container(slow_load))) as client:
        assert slow_load.started.wait(PATIENCE_SECONDS)
        described = client.get("/api/models")
        still_loading = not slow_load.finished.is_set()
        slow_load.release.set()

    assert described.status_code == 200
    assert described.json()["name"] == "shapes-demo"  # from the bundled manifest
    assert still_loading


def test_requests_during_a_slow_model_load_hold_no_request_threads(slow_load: _SlowLoad) -> None:
    """More concurrent calls of a synchronous route than the server has request threads (40):
    a load that held those threads, or that the route waited for, would stall them all."""
    with TestClient(create_embedded_app(_container(slow_load))) as client:
        assert slow_load.started.wait(PATIENCE_SECONDS)
        with ThreadPoolExecutor(max_workers=45) as pool:
            answers = list(pool.map(lambda _: client.get("/api/models").status_code, range(45)))
        submitted = client.post(SUBMIT, files={"image": ("cat.png", png_bytes())})
        still_loading = not slow_load.finished.is_set()
        slow_load.release.set()
        result = client.get(submitted.headers["location"], params={"wait": 30}).json()

    assert answers == [200] * 45
    assert still_loading
    assert submitted.status_code == 202  # queued during the load, classified once it is done
    assert result["status"] == "succeeded"


class _RecordingQueue:
    """A queue provider that records being reached for: a worker must not, before its model loads."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *_: Any) -> Any:
        self.calls += 1
        raise AssertionError("the worker reached for the queue")


def test_a_worker_whose_model_cannot_load_fails_before_it_touches_the_queue() -> None:
    container = _container(_failing_load)
    queue = _RecordingQueue()
    container.consumer.override(providers.Callable(queue))

    with pytest.raises(ModelLoadError) as error:
        asyncio.run(serve_worker(container))

    assert str(error.value) == f"the model could not be loaded: {REASON}"
    assert queue.calls == 0


def test_a_model_load_error_says_the_exception_type_when_it_has_no_message() -> None:
    def fail() -> Classifier:
        raise MemoryError

    container = _container(fail)

    with pytest.raises(ModelLoadError) as error:
        asyncio.run(serve_worker(container))

    assert str(error.value) == "the model could not be loaded: MemoryError"
