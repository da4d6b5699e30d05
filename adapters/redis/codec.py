"""RequestRecord <-> JSON, version 1: the stored form of a record, readable by any process or language.

Explicit field by field, never pickle: a record crosses process boundaries and outlives the code
that wrote it, so the format is versioned (`"v": 1`) and decoding refuses what it does not know.
Datetimes are ISO-8601 with their UTC offset; floats survive exactly (JSON writes their repr).
orjson, not the standard json: a worker reads and writes every record twice, and the standard
module (with `dataclasses.asdict`) was most of a do-nothing worker's CPU per request.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson

from inference.domain import RequestId, RequestRecord, RequestStatus
from inference.outcomes import Failure, LabelScore, Prediction
from inference.timings import Timings
from inference.webhook_delivery import Webhook, WebhookStatus

VERSION = 1


def encode_record(record: RequestRecord) -> bytes:
    prediction = record.prediction
    failure = record.failure
    document = {
        "v": VERSION,
        "request_id": record.request_id.value,  # orjson writes a UUID in its canonical form
        "status": record.status.value,
        "top_k": record.top_k,
        "created_at": _encode_time(record.created_at),
        "updated_at": _encode_time(record.updated_at),
        "completed_at": None if record.completed_at is None else _encode_time(record.completed_at),
        "attempts": record.attempts,
        "prediction": None
        if prediction is None
        else {
            # The prediction's scores, under the key the README documents for this format.
            "top_k": [{"label": s.label, "score": s.score} for s in prediction.scores],
            "model_name": prediction.model_name,
            "model_version": prediction.model_version,
        },
        "failure": None if failure is None else {"code": failure.code, "message": failure.message},
        # Added within version 1: a record written before it has no key, and reads as None.
        "timings": None if record.timings is None else _encode_timings(record.timings),
        # Likewise added within version 1 (and the status "canceled").
        "deadline_at": None if record.deadline_at is None else _encode_time(record.deadline_at),
        "requeued": record.requeued,  # added within version 1 too: absent reads as 0
        "trace_id": record.trace_id,  # added within version 1, as timings
        # Added within version 1 too (absent: no webhook).
        "webhook": None if record.webhook is None else _encode_webhook(record.webhook),
    }
    return orjson.dumps(document)


def decode_record(data: bytes | str) -> RequestRecord:
    """The record `encode_record` wrote; ValueError for anything else (corrupt, or another version)."""
    try:
        document = orjson.loads(data)
        if document.get("v") != VERSION:
            raise ValueError(f"record format version {document.get('v')!r}, expected {VERSION}")
        return _decode(document)
    # ValueError: bad JSON (orjson.JSONDecodeError is one), UTF-8, UUID...
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"not a stored request record: {exc!r}") from exc


def _decode(document: dict[str, Any]) -> RequestRecord:
    prediction = document["prediction"]
    failure = document["failure"]
    completed_at = document["completed_at"]
    deadline_at = document.get("deadline_at")
    return RequestRecord(
        request_id=RequestId(uuid.UUID(document["request_id"])),
        status=RequestStatus(document["status"]),
        top_k=int(document["top_k"]),
        created_at=datetime.fromisoformat(document["created_at"]),
        updated_at=datetime.fromisoformat(document["updated_at"]),
        completed_at=None if completed_at is None else datetime.fromisoformat(completed_at),
        attempts=int(document["attempts"]),
        prediction=None
        if prediction is None
        else Prediction(
            scores=tuple(LabelScore(str(s["label"]), float(s["score"])) for s in prediction["top_k"]),
            model_name=str(prediction["model_name"]),
            model_version=str(prediction["model_version"]),
        ),
        failure=None if failure is None else Failure(str(failure["code"]), str(failure["message"])),
        timings=_decode_timings(document.get("timings")),
        deadline_at=None if deadline_at is None else datetime.fromisoformat(deadline_at),
        requeued=int(document.get("requeued", 0)),
        trace_id=_decode_trace_id(document.get("trace_id")),
        webhook=_decode_webhook(document.get("webhook")),
    )


def _encode_webhook(webhook: Webhook) -> dict[str, Any]:
    return {
        "url": webhook.url,
        "status": webhook.status.value,
        "attempts": webhook.attempts,
        "last_error": webhook.last_error,
    }


def _decode_webhook(webhook: dict[str, Any] | None) -> Webhook | None:
    if webhook is None:
        return None
    last_error = webhook["last_error"]
    return Webhook(
        url=str(webhook["url"]),
        status=WebhookStatus(webhook["status"]),
        attempts=int(webhook["attempts"]),
        last_error=None if last_error is None else str(last_error),
    )


def _decode_trace_id(trace_id: object) -> str | None:
    if trace_id is not None and not isinstance(trace_id, str):
        raise ValueError(f"trace_id {trace_id!r} is not a string")
    return trace_id


def _decode_timings(timings: dict[str, Any] | None) -> Timings | None:
    if timings is None:
        return None
    preprocess, model = timings["preprocess"], timings["model"]
    return Timings(
        queue_wait=float(timings["queue_wait"]),
        preprocess=None if preprocess is None else float(preprocess),
        model=None if model is None else float(model),
        total=float(timings["total"]),
    )


def _encode_timings(timings: Timings) -> dict[str, float | None]:
    return {
        "queue_wait": timings.queue_wait,
        "preprocess": timings.preprocess,
        "model": timings.model,
        "total": timings.total,
    }


def _encode_time(moment: datetime) -> datetime:
    # A naive datetime names no instant: another process would read it in its own zone.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} has no time zone; records keep aware datetimes only")
    return moment  # orjson writes it as isoformat() does (RFC 3339, offset included), faster
