"""The routes. Each one resolves its use case from the container that `create_app` was given.

`router` holds what API keys protect (when configured); `health_router` is always open, for
load balancers and container checks.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from entrypoints.container import Container
from entrypoints.http.errors import UploadError
from entrypoints.http.schemas import (
    Accepted,
    ErrorBody,
    Health,
    ModelBody,
    Readiness,
    RequestView,
    accepted_json,
)
from entrypoints.http.status_stream import status_events
from entrypoints.http.uploads import OPENAPI_REQUEST_BODY, WEBHOOK_FIELD, read_image
from inference.domain import MAX_TOP_K, RequestId, RequestRecord

log = logging.getLogger(__name__)

MAX_WAIT_SECONDS = 30.0
REQUEST_ID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"

router = APIRouter(prefix="/api")
health_router = APIRouter(prefix="/api")
metrics_router = APIRouter()


def _container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def _errors(*statuses: int) -> dict[int | str, dict[str, object]]:
    return {status: {"model": ErrorBody} for status in statuses}


def _json_errors(*statuses: int) -> dict[int | str, dict[str, object]]:
    """As `_errors`, for a route whose own answers are not JSON (a status stream's errors are)."""
    schema = {"$ref": "#/components/schemas/ErrorBody"}  # there already: every other route uses it
    return {status: {"content": {"application/json": {"schema": schema}}} for status in statuses}


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


@router.post(
    "/inference/requests",
    status_code=202,
    response_model=Accepted,
    operation_id="submit_request",
    summary="Submit an image for classification",
    openapi_extra={"requestBody": OPENAPI_REQUEST_BODY},
    responses={
        202: {"links": _READ_THE_RESULT, "headers": _TRACEPARENT},
        **_errors(409, 413, 415, 422, 429, 503),
    },
)
async def submit(
    request: Request,
    # Declared as a plain integer (not integer-or-null): a query parameter cannot be null.
    top_k: int = Query(None, ge=1, le=MAX_TOP_K, description="Labels to return (default 5)."),
    deadline: float = Query(
        None,
        gt=0,
        description="Seconds from now after which the request, if no worker has run it yet, fails "
        "`deadline_exceeded` without running (default: the server's, if any).",
    ),
    idempotency_key: str | None = Header(
        None,
        alias="Idempotency-Key",
        description="1 to 255 visible ASCII characters. A retry with the same key, image and "
        "parameters answers the first submission's 202 again (header `Idempotent-Replayed: true`) "
        "and enqueues nothing; the key with anything else answers 409 `idempotency_key_reused`.",
    ),
    webhook: str = Query(
        None,
        max_length=2048,
        description="An http(s) URL to POST the record to once it is terminal, signed (Standard "
        "Webhooks); or the form field of the same name.",
    ),
) -> Response:
    """Send the image as multipart/form-data (field `image`) or as the raw body with an image/*
    Content-Type. Answers at once with the request's id; read the result at `results_url`."""
    container = _container(request)
    settings, metrics = container.config.api, container.metrics()
    traceparent: str | None = getattr(request.state, "traceparent", None)  # set by TraceRequests
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
                _webhook(webhook, upload.fields),
            )
        finally:
            reservation.release()
    except Exception as refusal:
        if metrics is not None:  # the code its client reads (a 500's own, for the unexpected)
            metrics.requests.labels(_refusal_code(refusal)).inc()
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
    # Returned as a ready Response, FastAPI skips `Accepted`'s validation and serialisation
    # (the schema still documents it): see accepted_json.
    body = accepted_json(accepted.request_id.value, accepted.created_at, url)
    return Response(body, status_code=202, media_type="application/json", headers=headers)


def _webhook(query: str | None, fields: dict[str, str]) -> str | None:
    form = fields.get(WEBHOOK_FIELD)
    if query is not None and form is not None:
        raise UploadError(422, "invalid_webhook_url", "give the webhook as a query parameter or a form field")
    return query if form is None else form


def _refusal_code(refusal: Exception) -> str:
    code = getattr(refusal, "code", None)  # a domain or HTTP-layer error's, as its client reads it
    if isinstance(code, str):
        return code
    return "client_disconnected" if isinstance(refusal, ClientDisconnect) else "internal_error"


@router.get(
    "/inference/requests/{request_id}/results",
    response_model=RequestView,
    name="get_result",
    operation_id="get_result",
    summary="Read a request's status and result",
    responses=_errors(404, 422, 503),
)
async def get_result(
    request: Request,
    request_id: Annotated[str, Path(pattern=REQUEST_ID_PATTERN, description="The id a submission returned.")],
    wait: Annotated[
        float, Query(ge=0, le=MAX_WAIT_SECONDS, description="Seconds to wait for a terminal status.")
    ] = 0.0,
) -> RequestView:
    structlog.contextvars.bind_contextvars(request_id=request_id)
    record = await _container(request).get_result()(RequestId.parse(request_id), wait)
    return RequestView.of(record)


@router.post(
    "/inference/requests/{request_id}/cancel",
    response_model=RequestView,
    operation_id="cancel_request",
    summary="Cancel a queued or processing request",
    responses=_errors(404, 409, 422, 503),
)
async def cancel(
    request: Request,
    request_id: Annotated[str, Path(pattern=REQUEST_ID_PATTERN, description="The id a submission returned.")],
) -> RequestView:
    """A queued request is canceled at once and never runs; one already processing is canceled
    best-effort (its result is discarded). A finished request answers 409 `already_terminal`
    with its `status`."""
    container = _container(request)
    structlog.contextvars.bind_contextvars(request_id=request_id)
    record = await container.cancel_request()(RequestId.parse(request_id))
    metrics = container.metrics()
    if metrics is not None:
        metrics.results.labels(record.status.value, "none").inc()
    return RequestView.of(record)


async def _watched_record(
    request: Request,
    request_id: Annotated[str, Path(pattern=REQUEST_ID_PATTERN, description="The id a submission returned.")],
) -> RequestRecord:
    # Read before the stream starts, so that an unknown id is a 404, not a stream that breaks.
    return await _container(request).get_result()(RequestId.parse(request_id))


@router.get(
    "/inference/requests/{request_id}/events",
    response_class=EventSourceResponse,
    operation_id="stream_status",
    summary="Stream a request's status as Server-Sent Events",
    responses=_json_errors(404, 422, 503),
)
async def events(
    request: Request, current: Annotated[RequestRecord, Depends(_watched_record)]
) -> AsyncIterator[ServerSentEvent]:
    """A `status` event (data: the record, as results answer it) at once, then one each time the
    record changes; the stream ends after the terminal one, or after the API's
    `events_seconds` (reconnect: the current state comes first again). Comment lines keep it
    alive through proxies meanwhile."""
    async for event in status_events(request, _container(request), current):
        yield event


@router.get("/models", response_model=ModelBody, summary="The served model")
def models(request: Request) -> ModelBody:  # sync: may wait for the model to finish loading
    return ModelBody.of(_container(request).model_info())


@metrics_router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
def prometheus_metrics(request: Request) -> Response:
    """The text format Prometheus scrapes; 404 with metrics off (INFERENCE_METRICS__ENABLED)."""
    registry = _container(request).metrics()
    if registry is None:
        raise HTTPException(404, "metrics are off")
    return Response(registry.exposition(), media_type=CONTENT_TYPE_LATEST)


@health_router.get("/health", response_model=Health, summary="Liveness")
async def health() -> Health:
    return Health()


@health_router.get(
    "/health/ready",
    response_model=Readiness,
    summary="Readiness: queue, store, model and live workers",
    responses={503: {"model": Readiness}},
)
async def ready(request: Request) -> JSONResponse:
    checks: dict[str, str] = {}
    for name, check in request.app.state.readiness_checks.items():
        try:
            checks[name] = await check()
        except Exception as exc:  # a failing check is an answer, not an error
            # Anyone may read readiness: the dependency's own words (hosts, credentials) are logged.
            log.warning("readiness: %s unavailable: %s", name, exc)
            checks[name] = "unavailable"
    ok = all(state == "ok" for state in checks.values())
    workers = request.app.state.worker_count.latest  # as the "workers" check just counted them
    body = Readiness(status="ready" if ok else "not_ready", checks=checks, workers=workers)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
