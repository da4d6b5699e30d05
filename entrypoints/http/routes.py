"""The routes that submit and read requests. Each one resolves its use case from the container
that `create_app` was given.

`router` holds what API keys protect (when configured), as do the lifecycle routes (cancel, the
status stream: `lifecycle_routes`); health and metrics are open (`health_routes`).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import Field

from entrypoints.http.errors import refusal_code
from entrypoints.http.parameters import Parameter, refuse_if_any
from entrypoints.http.prefer_wait import OPENAPI_PARAMETER as PREFER_WAIT
from entrypoints.http.prefer_wait import finished_within, preferred_wait, watching
from entrypoints.http.route_helpers import REQUEST_ID_PATTERN, container_of, error_responses
from entrypoints.http.schemas import (
    Accepted,
    ModelBody,
    RequestView,
    accepted_json,
)
from entrypoints.http.uploads import OPENAPI_REQUEST_BODY, read_image, webhook_of
from entrypoints.views import record_json
from inference.domain import MAX_TOP_K, RequestId

log = logging.getLogger(__name__)

MAX_WAIT_SECONDS = 30.0

router = APIRouter(prefix="/api")


# What a client does next with a 202, for OpenAPI tools (and schemathesis's stateful tests).
_READ_THE_RESULT = {
    "GetResult": {
        "operationId": "get_result",
        "parameters": {"request_id": "$response.body#/request_id"},
        "description": "Read the request's status and result.",
    }
}

_TRACEPARENT = {
    "traceparent": {
        "description": "The W3C trace context the request travels under: the one sent, if valid, "
        "else a new trace. Its trace id is the result's `trace_id`.",
        "schema": {"type": "string", "pattern": "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"},
    }
}


# Read by hand in `submit` (see `parameters`): FastAPI's dependency solving would cost more than
# the rest of the route's framework. Declared as plain types (not type-or-null): a query
# parameter cannot be null.
_TOP_K = Parameter[int](
    "top_k",
    "query",
    Annotated[int, Field(ge=1, le=MAX_TOP_K, title="Top K", description="Labels to return (default 5).")],
)
_DEADLINE = Parameter[float](
    "deadline",
    "query",
    Annotated[
        float,
        Field(
            gt=0,
            title="Deadline",
            description="Seconds from now after which the request, if no worker has run it yet, fails "
            "`deadline_exceeded` without running (default: the server's, if any).",
        ),
    ],
)
_WEBHOOK = Parameter[str](
    "webhook",
    "query",
    Annotated[
        str,
        Field(
            max_length=2048,
            title="Webhook",
            description="An http(s) URL to POST the record to once it is terminal, signed (Standard "
            "Webhooks); or the form field of the same name.",
        ),
    ],
)
_IDEMPOTENCY_KEY = Parameter[str](
    "Idempotency-Key",
    "header",
    Annotated[
        str | None,
        Field(
            title="Idempotency-Key",
            description="1 to 255 visible ASCII characters. A retry with the same key, image and "
            "parameters answers the first submission's 202 again (header `Idempotent-Replayed: true`) "
            "and enqueues nothing; the key with anything else answers 409 `idempotency_key_reused`.",
        ),
    ],
)

# In the order FastAPI would read them (the query's, then the headers): the first error names the code.
SUBMIT_PARAMETERS = (_TOP_K, _DEADLINE, _WEBHOOK, _IDEMPOTENCY_KEY)


@router.post(
    "/inference/requests",
    status_code=202,
    response_model=Accepted,
    operation_id="submit_request",
    summary="Submit an image for classification",
    openapi_extra={
        "requestBody": OPENAPI_REQUEST_BODY,
        "parameters": [*(parameter.openapi() for parameter in SUBMIT_PARAMETERS), PREFER_WAIT],
    },
    responses={
        200: {"model": RequestView, "description": "Finished within the `Prefer: wait` asked for."},
        202: {"links": _READ_THE_RESULT, "headers": _TRACEPARENT},
        **error_responses(409, 413, 415, 422, 429, 503),
    },
)
async def submit(request: Request) -> Response:
    """Send the image as multipart/form-data (field `image`) or as the raw body with an image/*
    Content-Type. Answers at once with the request's id; read the result at `results_url`. With
    `Prefer: wait=N`, answers 200 with the result instead if it is ready within N seconds."""
    errors: list[Any] = []
    top_k, deadline = _TOP_K.read(request, errors), _DEADLINE.read(request, errors)
    webhook, idempotency_key = _WEBHOOK.read(request, errors), _IDEMPOTENCY_KEY.read(request, errors)
    refuse_if_any(errors)
    container = container_of(request)
    settings, metrics = container.config.api, container.metrics()
    traceparent: str | None = getattr(request.state, "traceparent", None)  # set by TraceRequests
    wait = preferred_wait(request, MAX_WAIT_SECONDS)
    async with watching(request, wait) as watched:
        try:
            reservation = request.app.state.upload_budget.reserve()
            try:  # the image's bytes count against the budget until it is handed on
                upload = await read_image(request, settings.max_upload_bytes(), reservation)
                accepted = await container.submit_once()(
                    upload.image,
                    top_k or settings.default_top_k(),
                    deadline,
                    idempotency_key,
                    traceparent,
                    webhook_of(webhook, upload.fields),
                    None if watched is None else watched.request_id,
                )
            finally:
                reservation.release()
        except Exception as refusal:
            if metrics is not None:  # the code its client reads (a 500's own, for the unexpected)
                metrics.requests.labels(refusal_code(refusal)).inc()
            raise
        if metrics is not None:
            metrics.requests.labels("replayed" if accepted.replayed else "accepted").inc()
        # The path by hand: Starlette's url_for searches every route, a few % of the API's CPU.
        root = request.scope.get("root_path", "")
        url = f"{root}{router.prefix}/inference/requests/{accepted.request_id}/results"
        headers = {"Location": url}
        if accepted.replayed:
            headers["Idempotent-Replayed"] = "true"
        if traceparent:  # the trace the request travels under, for a client to find it by
            headers["traceparent"] = traceparent
        structlog.contextvars.bind_contextvars(request_id=str(accepted.request_id))  # for the access line
        if wait is not None:
            headers["Preference-Applied"] = f"wait={wait}"
            record = await finished_within(request, accepted.request_id, wait, watched)
            if record is not None:
                return Response(record_json(record), media_type="application/json", headers=headers)
    # Returned as a ready Response, FastAPI skips `Accepted`'s validation and serialisation
    # (the schema still documents it): see accepted_json.
    body = accepted_json(accepted.request_id.value, accepted.created_at, url)
    return Response(body, status_code=202, media_type="application/json", headers=headers)


@router.get(
    "/inference/requests/{request_id}/results",
    response_model=RequestView,
    name="get_result",
    operation_id="get_result",
    summary="Read a request's status and result",
    responses=error_responses(404, 422, 503),
)
async def get_result(
    request: Request,
    request_id: Annotated[str, Path(pattern=REQUEST_ID_PATTERN, description="The id a submission returned.")],
    wait: Annotated[
        float, Query(ge=0, le=MAX_WAIT_SECONDS, description="Seconds to wait for a terminal status.")
    ] = 0.0,
) -> Response:
    structlog.contextvars.bind_contextvars(request_id=request_id)
    record = await container_of(request).get_result()(RequestId.parse(request_id), wait)
    # A ready Response: FastAPI skips `RequestView`'s validation and serialisation (the schema
    # still documents it), see record_json.
    return Response(record_json(record), media_type="application/json")


@router.get("/models", response_model=ModelBody, summary="The served model")
def models(request: Request) -> ModelBody:  # sync: may wait for the model to finish loading
    return ModelBody.of(container_of(request).model_info())
