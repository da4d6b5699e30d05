"""Naming a webhook at submit: checked by the SSRF guard, stored, and shown on the record."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from dependency_injector import providers

from adapters.webhooks import HttpxWebhookSender
from tests.conftest import MakeClient
from tests.harness import SUBMIT
from tests.images import png_bytes
from tests.service import memory_container

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef01234567").decode()
# No dispatcher: these tests are about what the API accepts, not about calls.
WEBHOOKS: dict[str, Any] = {"secret": SECRET, "dispatch": False}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://10.0.0.8/",
    ],
)
def test_a_webhook_that_reaches_inside_is_refused_with_422_and_nothing_is_queued(
    make_client: MakeClient, url: str
) -> None:
    client = make_client(webhook=WEBHOOKS, started=False)
    response = client.post(SUBMIT, params={"webhook": url}, files={"image": png_bytes()})
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "webhook_url_forbidden"
    assert client.app.state.container.publisher().depth == 0  # type: ignore[attr-defined]


def test_a_host_name_that_resolves_inside_is_refused(make_client: MakeClient) -> None:
    async def inside(host: str, port: int) -> list[str]:
        return ["10.20.30.40"]

    container = memory_container(webhook=WEBHOOKS)
    sender = HttpxWebhookSender(
        key=b"k" * 32,
        allowed_networks=[],
        resolver=inside,
        connect_timeout=1,
        read_timeout=1,
        max_response_bytes=1,
    )
    container.webhook_sender.override(providers.Object(sender))
    client = make_client(container, started=False)
    response = client.post(
        SUBMIT, params={"webhook": "https://hooks.example.com/x"}, files={"image": png_bytes()}
    )
    assert (response.status_code, response.json()["code"]) == (422, "webhook_url_forbidden")
    assert "10.20.30.40" in response.json()["detail"]


def test_an_allowed_network_lets_a_webhook_in_and_the_record_shows_it_pending(
    make_client: MakeClient,
) -> None:
    client = make_client(webhook={**WEBHOOKS, "allowed_networks": "127.0.0.0/8"}, started=False)
    response = client.post(
        SUBMIT, params={"webhook": "http://127.0.0.1:9/hook"}, files={"image": png_bytes()}
    )
    assert response.status_code == 202, response.text
    body = client.get(f"{SUBMIT}/{response.json()['request_id']}/results").json()
    assert body["webhook"] == {"status": "pending", "attempts": 0, "last_error": None}


def test_a_webhook_may_come_as_a_form_field_but_not_twice(make_client: MakeClient) -> None:
    client = make_client(webhook={**WEBHOOKS, "allowed_networks": "127.0.0.0/8"}, started=False)
    form = {"webhook": "http://127.0.0.1:9/hook"}
    accepted = client.post(SUBMIT, files={"image": png_bytes()}, data=form)
    assert accepted.status_code == 202, accepted.text
    assert client.get(accepted.headers["location"]).json()["webhook"]["status"] == "pending"
    twice = client.post(SUBMIT, params=form, files={"image": png_bytes()}, data=form)
    assert (twice.status_code, twice.json()["code"]) == (422, "invalid_webhook_url")


def test_a_request_without_a_webhook_shows_none(make_client: MakeClient) -> None:
    client = make_client(started=False)
    response = client.post(SUBMIT, files={"image": png_bytes()})
    assert client.get(response.headers["location"]).json()["webhook"] is None


@pytest.mark.parametrize("url", ["ftp://example.com/x", "not a url", "http:///x"])
def test_a_webhook_that_is_no_http_url_gets_422(make_client: MakeClient, url: str) -> None:
    client = make_client(webhook=WEBHOOKS, started=False)
    response = client.post(SUBMIT, params={"webhook": url}, files={"image": png_bytes()})
    assert (response.status_code, response.json()["code"]) == (422, "invalid_webhook_url")


def test_a_service_without_a_signing_secret_refuses_webhooks(make_client: MakeClient) -> None:
    client = make_client(started=False)
    response = client.post(
        SUBMIT, params={"webhook": "https://93.184.215.14/x"}, files={"image": png_bytes()}
    )
    assert (response.status_code, response.json()["code"]) == (422, "webhooks_not_configured")
    assert "INFERENCE_WEBHOOK__SECRET" in response.json()["detail"]


def test_an_idempotent_retry_must_name_the_same_webhook(make_client: MakeClient) -> None:
    client = make_client(webhook={**WEBHOOKS, "allowed_networks": "127.0.0.0/8"}, started=False)
    image, key = png_bytes(), {"Idempotency-Key": "order-1"}
    first = client.post(
        SUBMIT, params={"webhook": "http://127.0.0.1:9/a"}, files={"image": image}, headers=key
    )
    again = client.post(
        SUBMIT, params={"webhook": "http://127.0.0.1:9/a"}, files={"image": image}, headers=key
    )
    other = client.post(
        SUBMIT, params={"webhook": "http://127.0.0.1:9/b"}, files={"image": image}, headers=key
    )
    assert first.status_code == again.status_code == 202
    assert again.json()["request_id"] == first.json()["request_id"]
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_key_reused")
