"""A record's timings: set by its terminal transition, stored by Redis's codec, and optional there."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from adapters.redis.codec import decode_record, encode_record
from inference.domain import Fail, Failure, InferenceRequest, RequestId, RequestRecord, Start
from inference.timings import Timings

SUBMITTED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def failed_record(timings: Timings | None) -> RequestRecord:
    request = InferenceRequest(RequestId.new(), b"img", "image/png", 3, SUBMITTED)
    started = RequestRecord.queued(request).apply(Start(SUBMITTED + timedelta(seconds=1)))
    return started.apply(Fail(Failure("invalid_image", "no"), SUBMITTED + timedelta(seconds=2), timings))


def test_the_terminal_transition_sets_the_records_timings() -> None:
    timings = Timings(queue_wait=1.0, preprocess=0.25, model=0.5, total=2.0)
    assert failed_record(timings).timings == timings


def test_timings_survive_the_redis_codec_even_where_the_model_never_ran() -> None:
    for timings in (Timings(1.0, 0.125, 0.5, 2.0), Timings(1.0, None, None, 1.5)):
        record = failed_record(timings)
        assert decode_record(encode_record(record)) == record


def test_a_record_stored_before_timings_existed_reads_without_them() -> None:
    record = failed_record(Timings(1.0, 0.125, 0.5, 2.0))
    document = json.loads(encode_record(record))
    del document["timings"]
    assert decode_record(json.dumps(document)).timings is None
