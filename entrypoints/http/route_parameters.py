"""The parameters of the routes that submit and read requests, read by hand (see `parameters`):
FastAPI's dependency solving would cost more than the rest of a route's framework."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from entrypoints.http.parameters import Parameter
from entrypoints.http.route_helpers import REQUEST_ID_PATTERN
from inference.domain import MAX_TOP_K

MAX_WAIT_SECONDS = 30.0

# Declared as plain types (not type-or-null): a query parameter cannot be null.
TOP_K = Parameter[int](
    "top_k",
    "query",
    Annotated[int, Field(ge=1, le=MAX_TOP_K, title="Top K", description="Labels to return (default 5).")],
)
DEADLINE = Parameter[float](
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
WEBHOOK = Parameter[str](
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
IDEMPOTENCY_KEY = Parameter[str](
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
SUBMIT_PARAMETERS = (TOP_K, DEADLINE, WEBHOOK, IDEMPOTENCY_KEY)

REQUEST_ID = Parameter[str](
    "request_id",
    "path",
    Annotated[
        str,
        Field(pattern=REQUEST_ID_PATTERN, title="Request Id", description="The id a submission returned."),
    ],
)
WAIT = Parameter[float](
    "wait",
    "query",
    Annotated[
        float,
        Field(ge=0, le=MAX_WAIT_SECONDS, title="Wait", description="Seconds to wait for a terminal status."),
    ],
    default=0.0,
)
RESULT_PARAMETERS = (REQUEST_ID, WAIT)
