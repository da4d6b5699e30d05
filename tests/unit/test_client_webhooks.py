"""The Python client's side of webhooks and status streams."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from entrypoints.client import AsyncClient, Client, InvalidSignature, ServiceError, verify_webhook
from entrypoints.views import record_json
from inference.signatures import secret_key, signed_headers
from inference.transitions import Succeed
from tests.images import png_bytes
from tests.queues import memory_store, transition
from tests.service import memory_client, transport_to
from tests.stubs import a_prediction, a_record

SECRET = "whsec_" + base64.b64encode(b"a 24-byte key, or longer").decode()
URL = "http://testserver"


def a_signed_call(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return signed_headers(secret_key(secret), "5b8e0c9e-0d55-4a8e-9d1c-1f6f0e1d2c3b", int(time.time()), body)


def test_a_signed_call_verifies_and_reads_as_the_requests_status() -> None:
    async def finished() -> bytes:
        store = memory_store()
        record = a_record()
        await store.add(record)
        return record_json(
            await transition(store, record.request_id, Succeed(a_prediction("cat"), record.created_at))
        )

    body = asyncio.run(finished())
    status = verify_webhook(SECRET, a_signed_call(body), body)
    assert status.status == "succeeded"
    assert status.result is not None and status.result.label == "cat"


def test_a_call_signed_with_another_secret_or_changed_is_refused() -> None:
    other = "whsec_" + base64.b64encode(b"another key of 24 bytes!").decode()
    body = b'{"request_id": "x"}'
    with pytest.raises(InvalidSignature):
        verify_webhook(SECRET, a_signed_call(body, other), body)
    with pytest.raises(InvalidSignature):
        verify_webhook(SECRET, a_signed_call(body), body + b" ")


def test_submit_sends_the_webhook_and_the_record_shows_it() -> None:
    settings: dict[str, Any] = {
        "webhook": {"secret": SECRET, "dispatch": False, "allowed_networks": "127.0.0.0/8"}
    }
    with memory_client(started=False, **settings) as app, Client(URL, transport=transport_to(app)) as client:
        job = client.submit(png_bytes(), webhook="http://127.0.0.1:9/hook")
        assert (
            app.get(f"/api/inference/requests/{job.request_id}/results").json()["webhook"]["status"]
            == "pending"
        )
        with pytest.raises(ServiceError) as refused:
            client.submit(png_bytes(), webhook="http://169.254.169.254/")
        assert refused.value.code == "webhook_url_forbidden"


def test_events_follow_a_request_to_its_end() -> None:
    with memory_client() as app, Client(URL, transport=transport_to(app)) as client:
        job = client.submit(png_bytes())
        job.wait(10)
        statuses = list(client.events(job.request_id, timeout=10))
        assert [s.status for s in statuses] == ["succeeded"]
        assert statuses[-1] == client.status(job.request_id)
        with pytest.raises(ServiceError) as unknown:
            list(client.events("00000000-0000-4000-8000-000000000000"))
        assert unknown.value.code == "unknown_request"


def test_the_async_client_follows_a_request_to_its_end_too() -> None:
    async def follow(app: TestClient) -> list[str]:
        async with AsyncClient(URL, transport=transport_to(app)) as client:
            job = await client.submit(png_bytes())
            await job.wait(10)
            return [status.status async for status in client.events(job.request_id, timeout=10)]

    with memory_client() as app:
        assert asyncio.run(follow(app)) == ["succeeded"]
