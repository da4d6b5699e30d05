"""A record's timings: set by its terminal transition, stored by Redis's codec, and optional there."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from adapters.redis.codec import decode_record, encode_record
from inference.domain import InferenceRequest, RequestId, RequestRecord
from inference.outcomes import Failure
from inference.timings import Timings
from inference.transitions import Fail, Start
from inference.use_cases.worker import ProcessBatch
from tests.queues import memory_queue, memory_store
from tests.stubs import StubClassifier, a_request

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


def test_a_worker_records_the_queue_wait_and_total_by_its_clock_and_the_batchs_durations() -> None:
    queue, store = memory_queue(), memory_store()
    # Taken from the queue at 2 s, its turn in the model (the deadline's last check) at 3, done at 5.
    ticks = iter(SUBMITTED + timedelta(seconds=s) for s in (2, 3, 5))
    step = ProcessBatch(
        queue, store, StubClassifier(), max_attempts=3, store_patience=1, clock=lambda: next(ticks)
    )
    request = a_request(submitted_at=SUBMITTED)

    async def scenario() -> RequestRecord:
        await store.add(RequestRecord.queued(request))
        await queue.publish(request)
        await step(await queue.receive(max_count=4, fill_wait=0, idle_wait=1))
        return await store.get(request.id)

    timings = asyncio.run(scenario()).timings
    assert timings is not None
    assert (timings.queue_wait, timings.total) == (2.0, 5.0)
    assert timings.preprocess is not None and timings.preprocess >= 0
    assert timings.model is not None and timings.model >= 0
