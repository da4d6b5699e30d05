"""The service as the unit tests drive it: the real container in memory mode, over a test client.

Each test builds it from the settings it cares about and overrides only what it must control
(the classifier, by default a StubClassifier; a queue or store that can be switched off).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from dependency_injector import providers
from fastapi.testclient import TestClient

from entrypoints.container import Container, create_container
from entrypoints.embedded import create_embedded_app
from entrypoints.settings import Settings
from inference.ports import Classifier, ResultStore
from tests.harness import SUBMIT
from tests.queues import Queue
from tests.stubs import StubClassifier


def memory_container(
    *,
    classifier: Classifier | None = None,
    queue_adapter: Queue | None = None,
    store_adapter: ResultStore | None = None,
    **settings: Any,
) -> Container:
    """The container of `Settings(mode="embedded", **settings)` with those adapters replaced
    (`queue` and `store` name settings, hence the adapters' longer names)."""
    container = create_container(Settings(mode="embedded", **settings))
    classifier = classifier or StubClassifier()
    container.classifier.override(providers.Object(classifier))
    # The API describes the model it serves from the manifest; here that is the classifier's own.
    container.model_info.override(providers.Object(classifier.model))
    if queue_adapter is not None:  # every role of the queue, as the embedded mode's one queue
        container.publisher.override(providers.Object(queue_adapter))
        container.consumer.override(providers.Object(queue_adapter))
    if store_adapter is not None:
        container.store.override(providers.Object(store_adapter))
    return container


@contextmanager
def memory_client(
    container: Container | None = None, *, started: bool = True, **overrides: Any
) -> Iterator[TestClient]:
    """A test client of `container` (else `memory_container(**overrides)`). `started` runs the
    app's lifespan, and so its worker; without it nothing is classified and the queue only fills."""
    app = create_embedded_app(container or memory_container(**overrides))
    if not started:
        yield TestClient(app)
        return
    with TestClient(app) as client:
        yield client


def transport_to(service: TestClient) -> httpx.MockTransport:
    """An httpx transport that hands each request to `service` (an app in a TestClient), so
    the real client code runs against the in-memory service."""

    def handle(request: httpx.Request) -> httpx.Response:
        answer = service.request(
            request.method,
            request.url.raw_path.decode("ascii"),
            headers=dict(request.headers),
            content=request.read(),
        )
        return httpx.Response(
            answer.status_code, headers=answer.headers.multi_items(), content=answer.content
        )

    return httpx.MockTransport(handle)


def submit_upload(client: TestClient, image: bytes) -> tuple[int, dict[str, object]]:
    """Submit `image` as an upload named only "upload": the status code and the JSON answer."""
    response = client.post(SUBMIT, files={"image": ("upload", image)})
    body: dict[str, object] = response.json()
    return response.status_code, body
