"""A request's record as clients read it, the one body that results, status streams and
webhooks send. Outside `http` so that the worker, which calls webhooks, can write it too."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Literal
from uuid import UUID

import orjson
from pydantic import BaseModel, Field

from inference.domain import RequestRecord


class LabelScoreBody(BaseModel):
    label: str
    score: float = Field(description="Softmax probability.")


class ModelRef(BaseModel):
    name: str
    version: str


class ResultBody(BaseModel):
    label: str
    score: float
    top_k: list[LabelScoreBody] = Field(description="Best first.")
    model: ModelRef


class FailureBody(BaseModel):
    code: str
    message: str


class TimingsBody(BaseModel):
    """Where the request's time went, in seconds."""

    queue_wait: float = Field(description="Submitted → taken by a worker.")
    preprocess: float | None = Field(
        description="Decoding its batch's images (None if it never reached the model)."
    )
    model: float | None = Field(description="Its batch's forward pass (None if it never reached the model).")
    total: float = Field(description="Submitted → outcome stored.")


class WebhookBody(BaseModel):
    status: Literal["pending", "delivered", "failed"] = Field(
        description="pending until a call is answered 2xx (delivered) or retries end (failed)."
    )
    attempts: int = Field(description="Calls of the webhook so far.")
    last_error: str | None = Field(description="Why the latest call did not deliver.")


class RequestView(BaseModel):
    request_id: UUID
    status: Literal["queued", "processing", "succeeded", "failed", "canceled"]
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    attempts: int
    result: ResultBody | None
    error: FailureBody | None
    timings: TimingsBody | None = Field(None, description="Set once the request is terminal.")
    deadline_at: datetime | None = Field(
        None, description="Past this, a request no worker has run yet fails `deadline_exceeded`."
    )
    requeued: int = Field(0, description="Times an operator requeued it after it failed (`inference dlq`).")
    trace_id: str | None = Field(
        None,
        description="The W3C trace id (32 hex digits) the request was submitted under: from its "
        "`traceparent` header, or a new one (the 202's `traceparent` header). Also in the logs.",
        pattern="^[0-9a-f]{32}$",
    )
    webhook: WebhookBody | None = Field(
        None, description="How the call of the request's webhook went, if any."
    )

    @classmethod
    def of(cls, record: RequestRecord) -> RequestView:
        prediction, failure = record.prediction, record.failure
        return cls(
            request_id=record.request_id.value,
            status=record.status.value,
            created_at=record.created_at,
            updated_at=record.updated_at,
            completed_at=record.completed_at,
            attempts=record.attempts,
            result=None
            if prediction is None
            else ResultBody(
                label=prediction.label,
                score=prediction.score,
                top_k=[LabelScoreBody(label=s.label, score=s.score) for s in prediction.scores],
                model=ModelRef(name=prediction.model_name, version=prediction.model_version),
            ),
            error=None if failure is None else FailureBody(code=failure.code, message=failure.message),
            timings=None if record.timings is None else TimingsBody(**asdict(record.timings)),
            deadline_at=record.deadline_at,
            requeued=record.requeued,
            trace_id=record.trace_id,
            webhook=None
            if record.webhook is None
            else WebhookBody(
                status=record.webhook.status.value,
                attempts=record.webhook.attempts,
                last_error=record.webhook.last_error,
            ),
        )


def record_json(record: RequestRecord) -> bytes:
    """The record as GET …/results answers it: the body of its webhook call and status events.

    Written directly with orjson, not through `RequestView`: every long-poll answers one, and
    building, validating and serialising the model cost a tenth of the API's CPU for a GET. A test
    holds it equal to `RequestView.of(record).model_dump_json()` (orjson's OPT_UTC_Z writes times
    as pydantic does, "Z" for UTC).
    """
    prediction, failure, timings, webhook = record.prediction, record.failure, record.timings, record.webhook
    document = {
        "request_id": record.request_id.value,
        "status": record.status.value,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "completed_at": record.completed_at,
        "attempts": record.attempts,
        "result": None
        if prediction is None
        else {
            "label": prediction.label,
            "score": float(prediction.score),
            "top_k": [{"label": s.label, "score": float(s.score)} for s in prediction.scores],
            "model": {"name": prediction.model_name, "version": prediction.model_version},
        },
        "error": None if failure is None else {"code": failure.code, "message": failure.message},
        "timings": None
        if timings is None
        else {
            "queue_wait": float(timings.queue_wait),
            "preprocess": None if timings.preprocess is None else float(timings.preprocess),
            "model": None if timings.model is None else float(timings.model),
            "total": float(timings.total),
        },
        "deadline_at": record.deadline_at,
        "requeued": record.requeued,
        "trace_id": record.trace_id,
        "webhook": None
        if webhook is None
        else {"status": webhook.status.value, "attempts": webhook.attempts, "last_error": webhook.last_error},
    }
    try:
        return orjson.dumps(document, option=orjson.OPT_UTC_Z)
    except TypeError:  # text orjson refuses (a lone surrogate): pydantic's answer, error or not
        return RequestView.of(record).model_dump_json().encode()
