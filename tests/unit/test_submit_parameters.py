"""The submit's parameters, read by hand (`entrypoints.http.parameters`), answer and document
exactly as FastAPI's own declarations of them would."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI, Header, Query, Request
from fastapi.testclient import TestClient

from entrypoints.http.errors import install_error_handlers
from entrypoints.http.parameters import refuse_if_any
from entrypoints.http.route_parameters import SUBMIT_PARAMETERS
from inference.domain import MAX_TOP_K


def _declared_by_fastapi() -> FastAPI:
    """The submit's parameters as its signature declared them before they were read by hand."""
    app = FastAPI()
    install_error_handlers(app, retry_after=1)
    top_k_doc = "Labels to return (default 5)."
    deadline_doc = (
        "Seconds from now after which the request, if no worker has run it yet, fails "
        "`deadline_exceeded` without running (default: the server's, if any)."
    )
    webhook_doc = (
        "An http(s) URL to POST the record to once it is terminal, signed (Standard "
        "Webhooks); or the form field of the same name."
    )
    key_doc = (
        "1 to 255 visible ASCII characters. A retry with the same key, image and "
        "parameters answers the first submission's 202 again (header `Idempotent-Replayed: true`) "
        "and enqueues nothing; the key with anything else answers 409 `idempotency_key_reused`."
    )

    @app.post("/submit")
    async def submit(
        top_k: int = Query(None, ge=1, le=MAX_TOP_K, description=top_k_doc),
        deadline: float = Query(None, gt=0, description=deadline_doc),
        webhook: str = Query(None, max_length=2048, description=webhook_doc),
        idempotency_key: str | None = Header(None, alias="Idempotency-Key", description=key_doc),
    ) -> dict[str, Any]:
        return {"top_k": top_k, "deadline": deadline, "webhook": webhook, "key": idempotency_key}

    return app


def _read_by_hand() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app, retry_after=1)

    @app.post("/submit", openapi_extra={"parameters": [p.openapi() for p in SUBMIT_PARAMETERS]})
    async def submit(request: Request) -> dict[str, Any]:
        errors: list[Any] = []
        top_k, deadline, webhook, key = (p.read(request, errors) for p in SUBMIT_PARAMETERS)
        refuse_if_any(errors)
        return {"top_k": top_k, "deadline": deadline, "webhook": webhook, "key": key}

    return app


REFERENCE, HAND = TestClient(_declared_by_fastapi()), TestClient(_read_by_hand())

QUERIES = [
    "",
    "top_k=3",
    "top_k=3&top_k=4",  # the last one counts
    "top_k=0",
    "top_k=1001",
    "top_k=abc",
    "top_k=",
    "top_k=2.0",
    "top_k=2.5",
    "deadline=1.5",
    "deadline=0",
    "deadline=-1",
    "deadline=nan",
    "deadline=inf",
    "deadline=",
    f"webhook=https://example.com/{'a' * 2030}",
    f"webhook=https://example.com/{'a' * 2048}",
    "webhook=",
    "top_k=0&deadline=x&webhook=" + "w" * 2049,  # several at once: one 422, coded for the first
    "unknown=1",
]


@pytest.mark.parametrize("query", QUERIES)
def test_a_query_is_answered_as_fastapis_own_declarations_answer_it(query: str) -> None:
    reference, hand = REFERENCE.post(f"/submit?{query}"), HAND.post(f"/submit?{query}")

    assert (hand.status_code, hand.json()) == (reference.status_code, reference.json())


@pytest.mark.parametrize("headers", [{}, {"Idempotency-Key": "abc"}, {"idempotency-key": ""}])
def test_the_idempotency_key_header_is_read_as_fastapi_reads_it(headers: dict[str, str]) -> None:
    reference, hand = REFERENCE.post("/submit", headers=headers), HAND.post("/submit", headers=headers)

    assert (hand.status_code, hand.json()) == (reference.status_code, reference.json())


def test_the_openapi_document_describes_them_as_fastapi_would() -> None:
    def parameters(client: TestClient) -> object:
        return client.get("/openapi.json").json()["paths"]["/submit"]["post"]["parameters"]

    assert parameters(HAND) == parameters(REFERENCE)
