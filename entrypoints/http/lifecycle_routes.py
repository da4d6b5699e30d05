"""What a client does with a request it submitted, beyond reading it: cancel it, or watch its
status as Server-Sent Events. Protected by API keys as the submit routes are."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Path, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent

from entrypoints.http.route_helpers import (
    REQUEST_ID_PATTERN,
    container_of,
    error_responses,
    json_error_responses,
)
from entrypoints.http.schemas import RequestView
from entrypoints.http.status_stream import status_events
from inference.domain import RequestId, RequestRecord

lifecycle_router = APIRouter(prefix="/api")


@lifecycle_router.post(
    "/inference/requests/{request_id}/cancel",
    response_model=RequestView,
    operation_id="cancel_request",
    summary="Cancel a queued or processing request",
    responses=error_responses(404, 409, 422, 503),
)
async def cancel(
    request: Request,
    request_id: Annotated[str, Path(pattern=REQUEST_ID_PATTERN, description="The id a submission returned.")],
) -> RequestView:
    """A queued request is canceled at once and never runs; one already processing is canceled
    best-effort (its result is discarded). A finished request answers 409 `already_terminal`
    with its `status`."""
    container = container_of(request)
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
    return await container_of(request).get_result()(RequestId.parse(request_id))


@lifecycle_router.get(
    "/inference/requests/{request_id}/events",
    response_class=EventSourceResponse,
    operation_id="stream_status",
    summary="Stream a request's status as Server-Sent Events",
    responses=json_error_responses(404, 422, 503),
)
async def events(
    request: Request, current: Annotated[RequestRecord, Depends(_watched_record)]
) -> AsyncIterator[ServerSentEvent]:
    """A `status` event (data: the record, as results answer it) at once, then one each time the
    record changes; the stream ends after the terminal one, or after the API's
    `events_seconds` (reconnect: the current state comes first again). Comment lines keep it
    alive through proxies meanwhile."""
    async for event in status_events(request, container_of(request), current):
        yield event
