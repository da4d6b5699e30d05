"""The routes that submit and read requests. Each one resolves its use case from the container
that `create_app` was given.

`add_request_routes` puts them on the app itself, with the API keys' check when keys are
configured, as the lifecycle routes (cancel, the status stream: `lifecycle_routes`) are; health
and metrics are open (`health_routes`). On the app, not through an included router: each
included router costs every request a walk of FastAPI's inclusion layers (about 10 µs of the
API's CPU per request in process), and the hot routes skip FastAPI's dependency solving
(`request_only`), which must see their dependencies on the route itself.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response, params

from entrypoints.http.errors import refusal_code
from entrypoints.http.parameters import refuse_if_any
from entrypoints.http.prefer_wait import OPENAPI_PARAMETER as PREFER_WAIT
from entrypoints.http.prefer_wait import finished_within, preferred_wait, watching
from entrypoints.http.request_only import RequestOnlyRoute
from entrypoints.http.route_helpers import container_of, error_responses
from entrypoints.http.route_parameters import (
    DEADLINE,
    IDEMPOTENCY_KEY,
    MAX_WAIT_SECONDS,
    REQUEST_ID,
    RESULT_PARAMETERS,
    SUBMIT_PARAMETERS,
    TOP_K,
    WAIT,
    WEBHOOK,
)
from entrypoints.http.schemas import (
    Accepted,
    ModelBody,
    RequestView,
    accepted_json,
)
from entrypoints.http.uploads import OPENAPI_REQUEST_BODY, read_image, webhook_of
from entrypoints.views import record_json
from inference.domain import RequestId

log = logging.getLogger(__name__)

PREFIX = "/api"


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


async def submit(request: Request) -> Response:
    """Send the image as multipart/form-data (field `image`) or as the raw body with an image/*
    Content-Type. Answers at once with the request's id; read the result at `results_url`. With
    `Prefer: wait=N`, answers 200 with the result instead if it is ready within N seconds."""
    errors: list[Any] = []
    top_k, deadline = TOP_K.read(request, errors), DEADLINE.read(request, errors)
    webhook, idempotency_key = WEBHOOK.read(request, errors), IDEMPOTENCY_KEY.read(request, errors)
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
        url = f"{root}{PREFIX}/inference/requests/{accepted.request_id}/results"
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


async def get_result(request: Request) -> Response:
    errors: list[Any] = []
    request_id, wait = REQUEST_ID.read(request, errors), WAIT.read(request, errors)
    refuse_if_any(errors)
    assert request_id is not None and wait is not None  # the route matched the one, the other has a default
    structlog.contextvars.bind_contextvars(request_id=request_id)
    record = await container_of(request).get_result()(RequestId.parse(request_id), wait)
    # A ready Response: FastAPI skips `RequestView`'s validation and serialisation (the schema
    # still documents it), see record_json.
    return Response(record_json(record), media_type="application/json")


def models(request: Request) -> ModelBody:  # sync: may wait for the model to finish loading
    return ModelBody.of(container_of(request).model_info())


def add_request_routes(
    app: FastAPI, dependencies: Sequence[params.Depends] = (), responses: Mapping[int | str, Any] = {}
) -> None:
    """The submit, the result and the model on `app`, each with `dependencies` and `responses`."""
    add = app.router.add_api_route
    add(
        f"{PREFIX}/inference/requests",
        submit,
        methods=["POST"],
        status_code=202,
        response_model=Accepted,
        operation_id="submit_request",
        summary="Submit an image for classification",
        openapi_extra={
            "requestBody": OPENAPI_REQUEST_BODY,
            "parameters": [*(parameter.openapi() for parameter in SUBMIT_PARAMETERS), PREFER_WAIT],
        },
        responses={
            **responses,
            200: {"model": RequestView, "description": "Finished within the `Prefer: wait` asked for."},
            202: {"links": _READ_THE_RESULT, "headers": _TRACEPARENT},
            **error_responses(409, 413, 415, 422, 429, 503),
        },
        dependencies=dependencies,
        route_class_override=RequestOnlyRoute,
    )
    add(
        f"{PREFIX}/inference/requests/{{request_id}}/results",
        get_result,
        methods=["GET"],
        response_model=RequestView,
        name="get_result",
        operation_id="get_result",
        summary="Read a request's status and result",
        openapi_extra={"parameters": [parameter.openapi() for parameter in RESULT_PARAMETERS]},
        responses={**responses, **error_responses(404, 422, 503)},
        dependencies=dependencies,
        route_class_override=RequestOnlyRoute,
    )
    add(
        f"{PREFIX}/models",
        models,
        methods=["GET"],
        response_model=ModelBody,
        summary="The served model",
        responses=dict(responses),
        dependencies=dependencies,
    )
