"""The domain values: identifiers, statuses, requests, predictions and a new record."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from inference.domain import InferenceRequest, RequestId, RequestRecord, RequestStatus
from inference.errors import InvalidRequestId, InvalidTopK
from inference.outcomes import LabelScore, Prediction
from tests import stubs

SUBMITTED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def a_request(top_k: int = 3) -> InferenceRequest:
    return stubs.a_request(top_k=top_k, submitted_at=SUBMITTED)


def test_a_new_request_id_is_a_random_uuid4() -> None:
    first, second = RequestId.new(), RequestId.new()
    assert first.value.version == 4
    assert first != second


def test_a_request_id_parses_back_from_its_text() -> None:
    request_id = RequestId.new()
    assert RequestId.parse(str(request_id)) == request_id


def test_a_request_id_is_its_uuid_as_text() -> None:
    value = uuid.uuid4()
    assert str(RequestId(value)) == str(value)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not-a-uuid",
        "12345",
        "0b7a9bd4-1f2c-4c7e-9a51-2f0e7f5d1a9",
        "0b7a9bd4-1f2c-4c7e-9a51-2f0e7f5d1a9zz",
        "{0b7a9bd4-1f2c-4c7e-9a51-2f0e7f5d1a90}",
        "urn:uuid:0b7a9bd4-1f2c-4c7e-9a51-2f0e7f5d1a90",
        "0b7a9bd41f2c4c7e9a512f0e7f5d1a90",
    ],
)
def test_a_malformed_request_id_is_refused(text: str) -> None:
    with pytest.raises(InvalidRequestId):
        RequestId.parse(text)


def test_a_refused_request_id_is_also_a_value_error() -> None:
    # Callers that know only the standard library can still catch it.
    with pytest.raises(ValueError, match="not a request id"):
        RequestId.parse("nope")


@pytest.mark.parametrize(
    ("status", "terminal"),
    [
        (RequestStatus.QUEUED, False),
        (RequestStatus.PROCESSING, False),
        (RequestStatus.SUCCEEDED, True),
        (RequestStatus.FAILED, True),
        (RequestStatus.CANCELED, True),
    ],
)
def test_only_succeeded_failed_and_canceled_are_terminal(status: RequestStatus, terminal: bool) -> None:
    assert status.is_terminal is terminal


def test_statuses_read_as_their_lowercase_names() -> None:
    assert [str(s) for s in RequestStatus] == ["queued", "processing", "succeeded", "failed", "canceled"]


@pytest.mark.parametrize("top_k", [0, -1])
def test_a_request_asking_for_fewer_than_one_label_is_refused(top_k: int) -> None:
    with pytest.raises(InvalidTopK):
        a_request(top_k=top_k)


def test_a_request_may_ask_for_a_single_label() -> None:
    assert a_request(top_k=1).top_k == 1


def test_a_request_does_not_print_its_image_bytes() -> None:
    assert "PNG" not in repr(a_request())


def test_a_prediction_is_labelled_by_its_best_score() -> None:
    prediction = Prediction(
        scores=(LabelScore("tabby", 0.7), LabelScore("tiger", 0.2)), model_name="net", model_version="1"
    )
    assert prediction.label == "tabby"
    assert prediction.score == pytest.approx(0.7)


def test_a_prediction_without_labels_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one label"):
        Prediction(scores=(), model_name="net", model_version="1")


def test_a_new_record_is_queued_at_submission_time() -> None:
    request = a_request(top_k=5)
    record = RequestRecord.queued(request)
    assert record.request_id == request.id
    assert record.status is RequestStatus.QUEUED
    assert record.top_k == 5
    assert record.created_at == record.updated_at == SUBMITTED
    assert record.completed_at is None
    assert record.attempts == 0
    assert record.prediction is None
    assert record.failure is None
