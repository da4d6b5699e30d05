"""Requests as AMQP messages, and back: the body is the image, the rest is properties and headers.

Nothing here trusts a message: anyone who can publish to the queue can send anything, so a
message is read field by field against a schema, and one that does not fit is refused whole
(the queue dead-letters it; the model never sees it). No pickle, no eval: plain AMQP types.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pika

from inference.domain import MAX_TOP_K, InferenceRequest, RequestId
from inference.errors import AttemptsExhausted, InferenceError, MalformedMessage, Rejected
from inference.media import sniff_media_type
from inference.outcomes import Failure
from inference.trace_context import valid_traceparent

SCHEMA_VERSION = 1
MESSAGE_TYPE = "inference.request"


def encode(request: InferenceRequest) -> tuple[bytes, pika.BasicProperties]:
    properties = pika.BasicProperties(
        delivery_mode=pika.DeliveryMode.Persistent,
        message_id=str(request.id),
        content_type=request.media_type,
        type=MESSAGE_TYPE,
        timestamp=int(request.submitted_at.timestamp()),
        headers={
            "schema": SCHEMA_VERSION,
            "top_k": request.top_k,
            "submitted_at": request.submitted_at.isoformat(),
            # Absent when the request has no deadline (and in messages older than deadlines).
            **({} if request.deadline_at is None else {"deadline_at": request.deadline_at.isoformat()}),
            # W3C trace context, under its HTTP name as OpenTelemetry's messaging conventions carry it.
            **({"traceparent": request.traceparent} if request.traceparent else {}),
        },
    )
    return request.image, properties


def decode(properties: pika.BasicProperties, body: bytes) -> InferenceRequest:
    """The request the message carries, or raise MalformedMessage saying what is wrong."""
    headers: dict[str, Any] = properties.headers or {}
    schema = headers.get("schema")
    if schema != SCHEMA_VERSION or isinstance(schema, bool):
        raise MalformedMessage(f"schema version {schema!r}, expected {SCHEMA_VERSION}")
    request_id = request_id_of(properties)
    if request_id is None:
        raise MalformedMessage(f"message_id {properties.message_id!r} is not a request id")
    top_k = headers.get("top_k")
    if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= MAX_TOP_K:
        raise MalformedMessage(f"top_k {top_k!r} is not an integer from 1 to {MAX_TOP_K}")
    submitted_at = _timestamp(headers.get("submitted_at"), "submitted_at")
    deadline_at = None if "deadline_at" not in headers else _timestamp(headers["deadline_at"], "deadline_at")
    try:
        media_type = sniff_media_type(body)
    except InferenceError as exc:
        raise MalformedMessage(f"the body is not an accepted image ({exc})") from exc
    if properties.content_type != media_type:
        raise MalformedMessage(f"content_type {properties.content_type!r} but the body is {media_type}")
    # A bad trace context costs the request its trace, not its result.
    traceparent = valid_traceparent(headers.get("traceparent"))
    return InferenceRequest(request_id, body, media_type, top_k, submitted_at, deadline_at, traceparent)


def request_id_of(properties: pika.BasicProperties) -> RequestId | None:
    message_id = properties.message_id
    if not isinstance(message_id, str):
        return None
    try:
        return RequestId.parse(message_id)
    except InferenceError:
        return None


def dead_letter_failure(properties: pika.BasicProperties, body: bytes, last_attempt: int) -> Failure:
    """Why the broker dead-lettered this message, as its request's client should read it.

    `last_attempt`: the attempts the request queue makes before it dead-letters. The dead
    letter's own `x-delivery-count` counts deliveries from the dead-letter queue, not the
    request's attempts.
    """
    try:
        decode(properties, body)
    except MalformedMessage as exc:
        return Failure.of(exc)
    deaths = (properties.headers or {}).get("x-death") or [{}]
    death = deaths[0] if isinstance(deaths, list) and isinstance(deaths[0], dict) else {}
    if death.get("reason") == "delivery_limit":
        return Failure.of(AttemptsExhausted(last_attempt))
    return Failure.of(Rejected())


def attempt_of(properties: pika.BasicProperties) -> int:
    """1 for a first delivery: quorum queues count earlier deliveries in `x-delivery-count`."""
    count = (properties.headers or {}).get("x-delivery-count")
    return count + 1 if isinstance(count, int) and count >= 0 else 1


def _timestamp(value: object, name: str) -> datetime:
    if not isinstance(value, str):
        raise MalformedMessage(f"{name} {value!r} is not an ISO-8601 timestamp")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise MalformedMessage(f"{name} {value!r} is not an ISO-8601 timestamp") from exc
    if parsed.tzinfo is None:
        raise MalformedMessage(f"{name} {value!r} has no time zone")
    return parsed
