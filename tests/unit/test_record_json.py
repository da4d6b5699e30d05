"""`record_json`, the body of a result, a status event and a webhook call, is written directly
with orjson: it must be byte for byte what `RequestView` writes, whatever the record holds."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from entrypoints.views import RequestView, record_json
from inference.domain import RequestId, RequestRecord, RequestStatus
from inference.outcomes import Failure, LabelScore, Prediction
from inference.timings import Timings
from inference.webhook_delivery import Webhook, WebhookStatus
from tests.stubs import a_record

zones = st.sampled_from(
    [
        UTC,
        timezone(timedelta(hours=2)),
        timezone(timedelta(hours=-9, minutes=-30)),
        timezone(timedelta(seconds=-3725)),
    ]
)
moments = st.builds(
    lambda naive, zone: naive.replace(tzinfo=zone),
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2200, 1, 1)),
    zones,
)
maybe_moments = st.none() | moments
numbers = st.floats(allow_nan=False, allow_infinity=False, width=64)
scores = st.lists(st.builds(LabelScore, st.text(max_size=12), numbers), min_size=1, max_size=5)
predictions = st.builds(Prediction, scores.map(tuple), st.text(max_size=8), st.text(max_size=8))
failures = st.builds(Failure, st.text(max_size=12), st.text(max_size=40))
timings = st.builds(Timings, numbers, st.none() | numbers, st.none() | numbers, numbers)
webhooks = st.builds(
    Webhook,
    st.just("https://example.com/hook"),
    st.sampled_from(WebhookStatus),
    st.integers(0, 9),
    st.none() | st.text(max_size=20),
)
records = st.builds(
    RequestRecord,
    request_id=st.builds(RequestId.new),
    status=st.sampled_from(RequestStatus),
    top_k=st.integers(1, 10),
    created_at=moments,
    updated_at=moments,
    completed_at=maybe_moments,
    attempts=st.integers(0, 10),
    prediction=st.none() | predictions,
    failure=st.none() | failures,
    timings=st.none() | timings,
    deadline_at=maybe_moments,
    requeued=st.integers(0, 3),
    trace_id=st.none() | st.from_regex(r"\A[0-9a-f]{32}\Z"),
    webhook=st.none() | webhooks,
)


@given(records)
def test_a_record_is_written_byte_for_byte_as_its_view_writes_it(record: RequestRecord) -> None:
    assert record_json(record) == RequestView.of(record).model_dump_json().encode()


def test_whole_scores_are_written_as_floats_as_the_view_does() -> None:
    # A classifier may hand over an int; the view's float field writes 1.0, and so must we.
    whole = Prediction((LabelScore("cat", 1),), "net", "1")
    record = replace(a_record(), status=RequestStatus.SUCCEEDED, prediction=whole)

    document = record_json(record)

    assert b'"score":1.0' in document
    assert document == RequestView.of(record).model_dump_json().encode()
