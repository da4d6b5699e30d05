"""What a log line about one request carries as fields (the entry points' formatter writes them),
so that a line logged in the core can be found by the request's id or trace without parsing text."""

from __future__ import annotations

from inference.domain import InferenceRequest
from inference.trace_context import trace_id_of


def request_fields(request: InferenceRequest) -> dict[str, str | None]:
    """For `extra=`: the request's id and trace id."""
    return {"request_id": str(request.id), "trace_id": trace_id_of(request.traceparent)}
