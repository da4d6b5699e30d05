"""CORS: closed by default; `api.cors_origins` opens the API to the browsers of those origins only."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from entrypoints.settings import ApiSettings, Settings
from tests.harness import SUBMIT
from tests.images import png_bytes
from tests.service import memory_client

ALLOWED = "https://app.example.com"
OTHER = "https://evil.example.net"


@contextmanager
def _client(origins: list[str], api_keys: list[str] | None = None) -> Iterator[TestClient]:
    with memory_client(api=ApiSettings(cors_origins=origins), api_keys=api_keys or []) as client:
        yield client


def test_without_origins_neither_a_preflight_nor_a_simple_request_is_allowed_cross_origin() -> None:
    with _client([]) as client:
        preflight = client.options(
            SUBMIT, headers={"Origin": ALLOWED, "Access-Control-Request-Method": "POST"}
        )
        simple = client.get("/api/models", headers={"Origin": ALLOWED})

    assert "access-control-allow-origin" not in preflight.headers
    assert simple.status_code == 200
    assert "access-control-allow-origin" not in simple.headers


def test_a_configured_origin_passes_the_preflight_with_the_methods_and_headers_the_api_needs() -> None:
    with _client([ALLOWED]) as client:
        response = client.options(
            SUBMIT,
            headers={
                "Origin": ALLOWED,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
            },
        )

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert {"GET", "POST"} <= set(response.headers["access-control-allow-methods"].split(", "))
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed_headers and "content-type" in allowed_headers
    assert "idempotency-key" in allowed_headers and "prefer" in allowed_headers


def test_a_configured_origin_may_read_the_location_and_retry_after_headers() -> None:
    with _client([ALLOWED]) as client:
        response = client.post(SUBMIT, files={"image": png_bytes()}, headers={"Origin": ALLOWED})

    assert response.status_code == 202
    assert response.headers["access-control-allow-origin"] == ALLOWED
    exposed = {name.strip().lower() for name in response.headers["access-control-expose-headers"].split(",")}
    assert {"location", "retry-after", "idempotent-replayed", "preference-applied"} <= exposed


def test_another_origin_is_refused_the_preflight_and_gets_no_cors_headers() -> None:
    with _client([ALLOWED]) as client:
        preflight = client.options(SUBMIT, headers={"Origin": OTHER, "Access-Control-Request-Method": "POST"})
        simple = client.get("/api/models", headers={"Origin": OTHER})

    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in simple.headers


@pytest.mark.parametrize("method", ["DELETE", "PUT"])
def test_methods_the_api_does_not_serve_are_refused_the_preflight(method: str) -> None:
    with _client([ALLOWED]) as client:
        response = client.options(
            SUBMIT, headers={"Origin": ALLOWED, "Access-Control-Request-Method": method}
        )

    assert response.status_code == 400


def test_with_api_keys_the_preflight_needs_no_key_and_a_refusal_is_readable_cross_origin() -> None:
    # Browsers send no Authorization header on a preflight; the 401 must reach the page's script.
    with _client([ALLOWED], api_keys=["a-key"]) as client:
        preflight = client.options(
            SUBMIT,
            headers={
                "Origin": ALLOWED,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        refused = client.get("/api/models", headers={"Origin": ALLOWED})

    assert preflight.status_code == 200
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == ALLOWED


def test_the_environment_lists_origins_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFERENCE_API__CORS_ORIGINS", f"{ALLOWED}, https://other.example.com")

    assert Settings().api.cors_origins == [ALLOWED, "https://other.example.com"]
