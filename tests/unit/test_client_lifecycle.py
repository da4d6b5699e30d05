"""The Python client against the in-memory service: cancel, idempotency keys, deadlines."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from entrypoints.client import AsyncClient, Client, ServiceError
from entrypoints.embedded import create_embedded_app
from tests.images import png_bytes
from tests.service import memory_client, memory_container, transport_to

URL = "http://service.test"


@pytest.fixture
def idle_service() -> Iterator[Client]:
    """The service with no worker running: what is submitted stays queued."""
    with memory_client(started=False) as app, Client(URL, transport=transport_to(app)) as client:
        yield client


def test_a_job_can_be_canceled_while_queued_and_not_twice(idle_service: Client) -> None:
    job = idle_service.submit(png_bytes())

    canceled = job.cancel()
    with pytest.raises(ServiceError) as too_late:
        job.cancel()

    assert (canceled.status, canceled.is_terminal) == ("canceled", True)
    assert (too_late.value.status, too_late.value.code) == (409, "already_terminal")
    assert job.status().status == "canceled"


def test_submitting_again_with_the_same_idempotency_key_gives_the_same_job(idle_service: Client) -> None:
    first = idle_service.submit(png_bytes(), top_k=2, idempotency_key="upload-1")
    again = idle_service.submit(png_bytes(), top_k=2, idempotency_key="upload-1")
    other = idle_service.submit(png_bytes(), top_k=2, idempotency_key="upload-2")

    assert first.request_id == again.request_id != other.request_id


def test_a_deadline_over_the_servers_maximum_is_refused_with_its_code(idle_service: Client) -> None:
    with pytest.raises(ServiceError) as refused:
        idle_service.submit(png_bytes(), deadline=10**9)

    assert refused.value.code == "invalid_deadline"


def test_the_async_client_cancels_and_submits_idempotently() -> None:
    app = create_embedded_app(memory_container())  # no lifespan: no worker, requests stay queued

    async def scenario() -> tuple[bool, str]:
        async with AsyncClient(URL, transport=httpx.ASGITransport(app=app)) as client:
            job = await client.submit(png_bytes(), idempotency_key="k", deadline=30)
            again = await client.submit(png_bytes(), idempotency_key="k", deadline=30)
            return job.request_id == again.request_id, (await again.cancel()).status

    assert asyncio.run(scenario()) == (True, "canceled")
