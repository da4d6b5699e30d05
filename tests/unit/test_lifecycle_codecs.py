"""What the lifecycle adds to the stored and queued forms: `canceled` and `deadline_at` survive
the Redis record codec and the AMQP message codec, and older forms without them still read."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pika
import pytest

from adapters.rabbitmq.messages import decode, encode
from adapters.redis.codec import decode_record, encode_record
from inference.domain import RequestStatus
from inference.errors import MalformedMessage
from inference.transitions import Cancel
from tests.images import png_bytes
from tests.stubs import a_record, a_request

SUBMITTED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
DEADLINE = datetime(2024, 5, 1, 14, 0, 30, tzinfo=timezone(timedelta(hours=2)))


def test_a_canceled_record_with_a_deadline_comes_back_exactly() -> None:
    canceled = a_record(submitted_at=SUBMITTED).apply(Cancel(SUBMITTED + timedelta(seconds=1)))
    record = replace(canceled, deadline_at=DEADLINE)

    decoded = decode_record(encode_record(record))

    assert decoded == record
    assert decoded.status is RequestStatus.CANCELED
    assert decoded.deadline_at == DEADLINE


def test_a_record_stored_before_deadlines_reads_with_none() -> None:
    document = json.loads(encode_record(a_record()))
    del document["deadline_at"]

    assert decode_record(json.dumps(document)).deadline_at is None


def test_a_request_keeps_its_deadline_across_the_queue() -> None:
    request = replace(a_request(image=png_bytes(), submitted_at=SUBMITTED), deadline_at=DEADLINE)

    body, properties = encode(request)

    assert properties.headers["deadline_at"] == DEADLINE.isoformat()
    assert decode(properties, body) == request


def test_a_message_without_a_deadline_has_none() -> None:
    request = a_request(image=png_bytes(), submitted_at=SUBMITTED)

    body, properties = encode(request)

    assert "deadline_at" not in properties.headers
    assert decode(properties, body).deadline_at is None


@pytest.mark.parametrize("value", ["tomorrow", 17, "2024-05-01T12:00:00"])
def test_a_message_with_an_unreadable_deadline_is_malformed(value: object) -> None:
    body, properties = encode(a_request(image=png_bytes(), submitted_at=SUBMITTED))
    headers = {**properties.headers, "deadline_at": value}

    with pytest.raises(MalformedMessage, match="deadline_at"):
        decode(pika.BasicProperties(**{**properties.__dict__, "headers": headers}), body)
