"""What every router shares: the container a route resolves its use case from, the request id
path parameter, and the error answers as OpenAPI lists them."""

from __future__ import annotations

from fastapi import Request

from entrypoints.container import Container
from entrypoints.http.schemas import ErrorBody

REQUEST_ID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


def container_of(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def error_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    return {status: {"model": ErrorBody} for status in statuses}


def json_error_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """As `error_responses`, for a route whose own answers are not JSON (a status stream's errors are)."""
    schema = {"$ref": "#/components/schemas/ErrorBody"}  # there already: every other route uses it
    return {status: {"content": {"application/json": {"schema": schema}}} for status in statuses}
