"""The result route's parameters, read by hand (`entrypoints.http.route_parameters`), answer and
document exactly as FastAPI's own declarations of them did."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from fastapi import FastAPI, Path, Query, Request
from fastapi.testclient import TestClient

from entrypoints.http.errors import install_error_handlers
from entrypoints.http.parameters import refuse_if_any
from entrypoints.http.route_helpers import REQUEST_ID_PATTERN
from entrypoints.http.route_parameters import MAX_WAIT_SECONDS, RESULT_PARAMETERS

ROUTE = "/results/{request_id}"
ID_DOC = "The id a submission returned."


def _declared_by_fastapi() -> FastAPI:
    """The route's parameters as its signature declared them before they were read by hand."""
    app = FastAPI()
    install_error_handlers(app, retry_after=1)

    @app.get(ROUTE)
    async def get_result(
        request_id: Annotated[str, Path(pattern=REQUEST_ID_PATTERN, description=ID_DOC)],
        wait: Annotated[
            float, Query(ge=0, le=MAX_WAIT_SECONDS, description="Seconds to wait for a terminal status.")
        ] = 0.0,
    ) -> dict[str, Any]:
        return {"request_id": request_id, "wait": wait}

    return app


def _read_by_hand() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app, retry_after=1)

    @app.get(ROUTE, openapi_extra={"parameters": [p.openapi() for p in RESULT_PARAMETERS]})
    async def get_result(request: Request) -> dict[str, Any]:
        errors: list[Any] = []
        request_id, wait = (p.read(request, errors) for p in RESULT_PARAMETERS)
        refuse_if_any(errors)
        return {"request_id": request_id, "wait": wait}

    return app


REFERENCE, HAND = TestClient(_declared_by_fastapi()), TestClient(_read_by_hand())
GOOD = "0b7f2c1e-3d4a-4b5c-8d9e-0f1a2b3c4d5e"

URLS = [
    f"/results/{GOOD}",
    f"/results/{GOOD.upper()}",
    f"/results/{GOOD}?wait=2.5",
    f"/results/{GOOD}?wait=0&wait=30",  # the last one counts
    f"/results/{GOOD}?wait=30.5",
    f"/results/{GOOD}?wait=-1",
    f"/results/{GOOD}?wait=abc",
    f"/results/{GOOD}?wait=",
    f"/results/{GOOD}?wait=nan",
    "/results/not-an-id",
    "/results/not-an-id?wait=x",  # both refused, in one 422
    f"/results/{GOOD}x",
]


@pytest.mark.parametrize("url", URLS)
def test_a_url_is_answered_as_fastapis_own_declarations_answer_it(url: str) -> None:
    reference, hand = REFERENCE.get(url), HAND.get(url)

    assert (hand.status_code, hand.json()) == (reference.status_code, reference.json())


def test_the_openapi_document_describes_them_as_fastapi_would() -> None:
    def parameters(client: TestClient) -> object:
        return client.get("/openapi.json").json()["paths"][ROUTE]["get"]["parameters"]

    assert parameters(HAND) == parameters(REFERENCE)
