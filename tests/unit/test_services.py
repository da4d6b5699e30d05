"""The use cases, on the memory adapters with a stub classifier."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.memory import MemoryQueue, MemoryResultStore
from inference.domain import InferenceRequest, RequestId, RequestRecord, RequestStatus
from inference.errors import (
    EmptyImage,
    Overloaded,
    QueueUnavailable,
    StoreUnavailable,
    UnknownRequest,
    UnsupportedImage,
)
from inference.media import ImageLimits
from inference.outcomes import Prediction
from inference.ports import Delivery, ImageInspector, ResultStore
from inference.transitions import Transition
from inference.use_cases.api import GetResult, SubmitRequest
from inference.use_cases.worker import BatchReport, ProcessBatch
from tests.images import jpeg_bytes, png_bytes
from tests.queues import QUEUE, STORE, WORKER, Queue, memory_queue, memory_store
from tests.stubs import (
    FailingQueue,
    FailingResultStore,
    StubClassifier,
    StubImageInspector,
    crashing_image,
    undecodable_image,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def clock() -> datetime:
    return NOW


LIMITS = ImageLimits(max_pixels=1_000_000, max_frames=10, max_side=10_000)


def submit_request(
    queue: Queue, store: ResultStore, inspector: ImageInspector | None = None, limits: ImageLimits = LIMITS
) -> SubmitRequest:
    """The use case on the given adapters, with a stub inspector (an 8 x 8 image) by default."""
    return SubmitRequest(
        queue,
        store,
        inspector or StubImageInspector(),
        limits,
        default_deadline=None,
        max_deadline=3600.0,
        clock=clock,
    )


async def receive_all(queue: MemoryQueue, max_count: int = 16) -> list[Delivery]:
    return await queue.receive(max_count=max_count, fill_wait=0.0, idle_wait=1.0)


async def submit_all(
    queue: MemoryQueue, store: MemoryResultStore, images: Sequence[bytes]
) -> list[RequestId]:
    submit = submit_request(queue, store)
    return [(await submit(image, top_k=2)).request_id for image in images]


async def statuses(store: MemoryResultStore, request_ids: Sequence[RequestId]) -> list[RequestStatus]:
    return [(await store.get(request_id)).status for request_id in request_ids]


# --- SubmitRequest ---


class QueueThatLooksUpTheStore(MemoryQueue):
    """Notes, at each publish, what the store holds for the request being published."""

    def __init__(self, store: MemoryResultStore) -> None:
        super().__init__(QUEUE.max_length, QUEUE.max_bytes, WORKER.max_attempts, QUEUE.max_parked)
        self._store = store
        self.seen_at_publish: list[RequestRecord] = []

    async def publish(self, request: InferenceRequest) -> None:
        self.seen_at_publish.append(await self._store.get(request.id))
        await super().publish(request)


def test_submitting_records_the_request_as_queued_before_publishing_it() -> None:
    async def scenario() -> None:
        store = memory_store()
        queue = QueueThatLooksUpTheStore(store)
        image = png_bytes()
        record = await submit_request(queue, store)(image, top_k=3)
        assert (record.status, record.top_k, record.created_at) == (RequestStatus.QUEUED, 3, NOW)
        assert queue.seen_at_publish == [record]
        [delivery] = await receive_all(queue)
        assert delivery.request == InferenceRequest(record.request_id, image, "image/png", 3, NOW)

    asyncio.run(scenario())


def test_a_submission_carries_the_media_type_read_from_the_bytes() -> None:
    async def scenario() -> None:
        queue, store = memory_queue(), memory_store()
        await submit_request(queue, store)(jpeg_bytes(), top_k=1)
        [delivery] = await receive_all(queue)
        assert delivery.request.media_type == "image/jpeg"

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("upload", "error"),
    [(b"%PDF-1.7 not an image", UnsupportedImage), (b"", EmptyImage)],
    ids=["pdf", "empty"],
)
def test_submitting_something_that_is_not_an_image_leaves_nothing_behind(
    upload: bytes, error: type[Exception]
) -> None:
    async def scenario() -> None:
        queue, store = FailingQueue(), FailingResultStore()
        with pytest.raises(error):
            await submit_request(queue, store)(upload, top_k=1)
        assert queue.depth == 0
        assert store.added_ids == []

    asyncio.run(scenario())


def test_when_publishing_fails_the_queued_record_is_taken_back_and_the_error_propagates() -> None:
    async def scenario() -> None:
        queue, store = FailingQueue(down=True), FailingResultStore()
        with pytest.raises(QueueUnavailable):
            await submit_request(queue, store)(png_bytes(), top_k=1)
        [orphan] = store.added_ids
        with pytest.raises(UnknownRequest):
            await store.get(orphan)

    asyncio.run(scenario())


def test_when_the_queue_is_full_the_submission_is_refused_and_leaves_no_orphan() -> None:
    async def scenario() -> None:
        queue, store = FailingQueue(max_length=1), FailingResultStore()
        submit = submit_request(queue, store)
        accepted = await submit(png_bytes(), top_k=1)
        with pytest.raises(Overloaded):
            await submit(png_bytes(), top_k=1)
        assert store.added_ids[0] == accepted.request_id
        assert await store.get(accepted.request_id) == accepted
        with pytest.raises(UnknownRequest):
            await store.get(store.added_ids[1])
        assert queue.depth == 1

    asyncio.run(scenario())


def test_when_the_store_is_down_nothing_is_published() -> None:
    async def scenario() -> None:
        queue, store = FailingQueue(), FailingResultStore(down=True)
        with pytest.raises(StoreUnavailable):
            await submit_request(queue, store)(png_bytes(), top_k=1)
        assert queue.depth == 0

    asyncio.run(scenario())


# --- GetResult ---


def test_getting_a_result_without_waiting_returns_the_record_as_it_stands() -> None:
    async def scenario() -> None:
        queue, store = memory_queue(), memory_store()
        record = await submit_request(queue, store)(png_bytes(), top_k=1)
        assert await GetResult(store)(record.request_id) == record

    asyncio.run(scenario())


def test_getting_an_unknown_result_raises_unknown_request() -> None:
    with pytest.raises(UnknownRequest):
        asyncio.run(GetResult(memory_store())(RequestId.new(), wait=1.0))


def test_getting_a_result_with_wait_returns_when_the_worker_finishes() -> None:
    async def scenario() -> None:
        queue, store = memory_queue(), memory_store()
        record = await submit_request(queue, store)(png_bytes(), top_k=2)
        process = ProcessBatch(
            queue, store, StubClassifier(), clock=clock, max_attempts=WORKER.max_attempts, store_patience=0.0
        )

        async def work() -> BatchReport:
            await asyncio.sleep(0.05)  # the client is already waiting
            return await process(await receive_all(queue))

        result, report = await asyncio.gather(GetResult(store)(record.request_id, wait=10.0), work())
        assert report == BatchReport(succeeded=1)
        assert result.status is RequestStatus.SUCCEEDED
        assert result.prediction is not None
        assert [s.label for s in result.prediction.scores] == ["cat", "dog"]

    asyncio.run(scenario())


def test_getting_a_result_with_wait_gives_the_unfinished_record_after_the_wait() -> None:
    async def scenario() -> None:
        queue, store = memory_queue(), memory_store()
        record = await submit_request(queue, store)(png_bytes(), top_k=2)
        assert await GetResult(store)(record.request_id, wait=0.1) == record

    asyncio.run(scenario())


# --- ProcessBatch ---


class QueueThatChecksTheStoreOnAck(MemoryQueue):
    """Notes, at each acknowledgement, what the store holds for the acknowledged request."""

    def __init__(self, store: MemoryResultStore) -> None:
        super().__init__(QUEUE.max_length, QUEUE.max_bytes, WORKER.max_attempts, QUEUE.max_parked)
        self._store = store
        self.status_at_ack: dict[RequestId, RequestStatus] = {}

    async def ack(self, delivery: Delivery) -> None:
        self.status_at_ack[delivery.request.id] = (await self._store.get(delivery.request.id)).status
        await super().ack(delivery)


def test_a_batch_is_classified_in_one_call_and_each_outcome_is_stored_before_its_ack() -> None:
    async def scenario() -> None:
        store = memory_store()
        queue = QueueThatChecksTheStoreOnAck(store)
        classifier = StubClassifier()
        request_ids = await submit_all(queue, store, [png_bytes(colour=(i, i, i)) for i in range(4)])
        report = await ProcessBatch(
            queue, store, classifier, clock=clock, max_attempts=WORKER.max_attempts, store_patience=0.0
        )(await receive_all(queue))
        assert report == BatchReport(succeeded=4)
        assert classifier.batch_sizes == [4]
        assert await statuses(store, request_ids) == [RequestStatus.SUCCEEDED] * 4
        assert queue.status_at_ack == dict.fromkeys(request_ids, RequestStatus.SUCCEEDED)
        assert queue.depth == 0

    asyncio.run(scenario())


class StoreThatCountsCalls(MemoryResultStore):
    def __init__(self) -> None:
        super().__init__(STORE.ttl_seconds, STORE.max_records)
        self.batch_sizes: list[int] = []

    async def transition(self, transitions: Sequence[tuple[RequestId, Transition]]) -> list[Any]:
        self.batch_sizes.append(len(transitions))
        return await super().transition(transitions)


def test_a_batch_reaches_the_store_in_one_call_to_start_and_one_to_finish() -> None:
    async def scenario() -> None:
        queue, store = memory_queue(), StoreThatCountsCalls()
        await submit_all(queue, store, [png_bytes(colour=(i, i, i)) for i in range(5)])
        report = await ProcessBatch(
            queue, store, StubClassifier(), clock=clock, max_attempts=WORKER.max_attempts, store_patience=0.0
        )(await receive_all(queue))
        assert report == BatchReport(succeeded=5)
        assert store.batch_sizes == [5, 5]

    asyncio.run(scenario())


class QueueThatCountsAcks(MemoryQueue):
    """Counts the calls that acknowledge: `ack` one by one, `ack_all` with how many each time."""

    def __init__(self) -> None:
        super().__init__(QUEUE.max_length, QUEUE.max_bytes, WORKER.max_attempts, QUEUE.max_parked)
        self.acks = 0
        self.ack_all_sizes: list[int] = []

    async def ack(self, delivery: Delivery) -> None:
        self.acks += 1
        await super().ack(delivery)

    async def ack_all(self, deliveries: Sequence[Delivery]) -> None:
        self.ack_all_sizes.append(len(deliveries))
        for delivery in deliveries:  # (not through self.ack: those are the calls counted)
            await MemoryQueue.ack(self, delivery)


def test_a_batch_is_acknowledged_in_one_call_not_one_per_delivery() -> None:
    # One call: one wait on the broker's thread for the batch. Mutation: acknowledging each
    # delivery on its own (a task, a future and a wake-up each) counts 6 acks and no ack_all.
    async def scenario() -> None:
        queue, store = QueueThatCountsAcks(), memory_store()
        request_ids = await submit_all(queue, store, [png_bytes(colour=(i, i, i)) for i in range(6)])
        report = await ProcessBatch(
            queue, store, StubClassifier(), clock=clock, max_attempts=WORKER.max_attempts, store_patience=0.0
        )(await receive_all(queue))
        assert report == BatchReport(succeeded=6)
        assert (queue.acks, queue.ack_all_sizes) == (0, [6])
        assert await statuses(store, request_ids) == [RequestStatus.SUCCEEDED] * 6
        assert queue.depth == 0

    asyncio.run(scenario())


def test_a_request_twice_in_one_batch_runs_once_and_keeps_its_first_result() -> None:
    async def scenario() -> None:
        queue, store = memory_queue(), memory_store()
        [request_id] = await submit_all(queue, store, [png_bytes()])
        [delivery] = await receive_all(queue)
        await queue.publish(delivery.request)  # a duplicate publish, delivered beside the first
        deliveries = [delivery, *await receive_all(queue)]
        assert [d.request.id for d in deliveries] == [request_id, request_id]
        classifier = StubClassifier()
        report = await ProcessBatch(
            queue, store, classifier, clock=clock, max_attempts=WORKER.max_attempts, store_patience=0.0
        )(deliveries)
        assert report == BatchReport(succeeded=1, skipped=1)
        assert classifier.batch_sizes == [1]
        record = await store.get(request_id)
        assert (record.status, record.attempts) == (RequestStatus.SUCCEEDED, 1)
        assert queue.depth == 0

    asyncio.run(scenario())


def test_a_processed_request_records_its_prediction_and_one_attempt() -> None:
    async def scenario() -> None:
        queue, store = memory_queue(), memory_store()
        [request_id] = await submit_all(queue, store, [png_bytes()])
        await ProcessBatch(
            queue,
            store,
            StubClassifier(scores=[0.1, 0.7, 0.2]),
            clock=clock,
            max_attempts=WORKER.max_attempts,
            store_patience=0.0,
        )(await receive_all(queue))
        record = await store.get(request_id)
        assert isinstance(record.prediction, Prediction)
        assert [(s.label, s.score) for s in record.prediction.scores] == [("dog", 0.7), ("fish", 0.2)]
        assert (record.attempts, record.completed_at) == (1, NOW)

    asyncio.run(scenario())


def test_an_undecodable_image_fails_alone_while_its_batch_mates_succeed() -> None:
    async def scenario() -> None:
        queue, store = memory_queue(), memory_store()
        classifier = StubClassifier()
        good, bad, also_good = await submit_all(
            queue, store, [png_bytes(), undecodable_image(), jpeg_bytes()]
        )
        report = await ProcessBatch(
            queue, store, classifier, clock=clock, max_attempts=WORKER.max_attempts, store_patience=0.0
        )(await receive_all(queue))
        assert report == BatchReport(succeeded=2, failed=1)
        assert classifier.batch_sizes == [3]
        assert await statuses(store, [good, also_good]) == [RequestStatus.SUCCEEDED] * 2
        failed = await store.get(bad)
        assert failed.status is RequestStatus.FAILED
        assert failed.failure is not None
        assert failed.failure.code == "invalid_image"
        assert queue.depth == 0

    asyncio.run(scenario())


def test_a_crashing_batch_is_retried_one_by_one_so_only_the_crashing_request_fails() -> None:
    async def scenario() -> None:
        queue, store = memory_queue(), memory_store()
        classifier = StubClassifier()
        first, crasher, last = await submit_all(queue, store, [png_bytes(), crashing_image(), jpeg_bytes()])
        report = await ProcessBatch(
            queue, store, classifier, clock=clock, max_attempts=WORKER.max_attempts, store_patience=0.0
        )(await receive_all(queue))
        assert report == BatchReport(succeeded=2, failed=1)
        assert classifier.batch_sizes == [3, 1, 1, 1]
        assert await statuses(store, [first, last]) == [RequestStatus.SUCCEEDED] * 2
        failed = await store.get(crasher)
        assert failed.failure is not None
        assert failed.failure.code == "model_error"
        assert queue.depth == 0

    asyncio.run(scenario())


def test_a_redelivered_request_that_already_finished_is_acked_without_running_the_model_again() -> None:
    async def scenario() -> None:
        queue, store = FailingQueue(), memory_store()
        [request_id] = await submit_all(queue, store, [png_bytes()])

        def scores_then_broker_drops(image: bytes) -> list[float]:
            queue.down = True  # the result gets stored, but the ack never reaches the broker
            return [0.6, 0.3, 0.1]

        classifier = StubClassifier(scores=scores_then_broker_drops)
        process = ProcessBatch(
            queue, store, classifier, clock=clock, max_attempts=WORKER.max_attempts, store_patience=0.0
        )
        with pytest.raises(QueueUnavailable):
            await process(await receive_all(queue))
        first_result = await store.get(request_id)
        assert first_result.status is RequestStatus.SUCCEEDED

        queue.down = False
        await queue.close()  # the broker redelivers what the lost consumer never acknowledged
        [redelivery] = await receive_all(queue)
        assert redelivery.attempt == 2
        report = await ProcessBatch(
            queue, store, classifier, clock=clock, max_attempts=WORKER.max_attempts, store_patience=0.0
        )([redelivery])
        assert report == BatchReport(skipped=1)
        assert classifier.batch_sizes == [1]
        assert await store.get(request_id) == first_result
        assert queue.depth == 0

    asyncio.run(scenario())


def test_a_delivery_past_max_attempts_fails_without_running_the_model() -> None:
    async def scenario() -> None:
        queue, store = memory_queue(max_attempts=9), memory_store()
        classifier = StubClassifier()
        [request_id] = await submit_all(queue, store, [png_bytes()])
        for _ in range(2):  # two workers died on it
            [delivery] = await receive_all(queue)
            await queue.reject(delivery, requeue=True)
        [third] = await receive_all(queue)
        assert third.attempt == 3
        report = await ProcessBatch(
            queue, store, classifier, max_attempts=2, clock=clock, store_patience=0.0
        )([third])
        assert report == BatchReport(failed=1)
        assert classifier.batch_sizes == []
        record = await store.get(request_id)
        assert record.failure is not None
        assert (record.status, record.failure.code) == (RequestStatus.FAILED, "delivery_limit_exceeded")
        assert queue.depth == 0

    asyncio.run(scenario())


def test_a_store_outage_while_finishing_requeues_the_delivery_and_a_later_pass_completes_it() -> None:
    async def scenario() -> None:
        queue, store = memory_queue(), FailingResultStore()
        [request_id] = await submit_all(queue, store, [png_bytes()])

        def outage(image: bytes) -> list[float]:
            store.down = True  # the store fails while the model runs
            return [0.6, 0.3, 0.1]

        process = ProcessBatch(
            queue,
            store,
            StubClassifier(scores=outage),
            clock=clock,
            max_attempts=WORKER.max_attempts,
            store_patience=0.0,
        )
        assert await process(await receive_all(queue)) == BatchReport(requeued=1)
        assert queue.depth == 1  # given back, not acknowledged

        store.down = False
        second_pass = ProcessBatch(
            queue, store, StubClassifier(), clock=clock, max_attempts=WORKER.max_attempts, store_patience=0.0
        )
        [redelivery] = await receive_all(queue)
        assert redelivery.attempt == 2
        assert await second_pass([redelivery]) == BatchReport(succeeded=1)
        record = await store.get(request_id)
        assert (record.status, record.attempts) == (RequestStatus.SUCCEEDED, 2)
        assert queue.depth == 0

    asyncio.run(scenario())


def test_a_store_outage_shorter_than_the_patience_is_waited_out_and_the_result_kept() -> None:
    async def scenario() -> None:
        queue, store = memory_queue(), FailingResultStore()
        [request_id] = await submit_all(queue, store, [png_bytes()])

        def outage(image: bytes) -> list[float]:
            store.down = True  # fails while the model runs, back 0.3 s later
            asyncio.run_coroutine_threadsafe(come_back(), loop)
            return [0.6, 0.3, 0.1]

        async def come_back() -> None:
            await asyncio.sleep(0.3)
            store.down = False

        loop = asyncio.get_running_loop()
        classifier = StubClassifier(scores=outage)
        process = ProcessBatch(
            queue, store, classifier, clock=clock, store_patience=10.0, max_attempts=WORKER.max_attempts
        )
        assert await process(await receive_all(queue)) == BatchReport(succeeded=1)
        record = await store.get(request_id)
        assert (record.status, record.attempts) == (RequestStatus.SUCCEEDED, 1)
        assert classifier.batch_sizes == [1]  # the model ran once: its result was not thrown away
        assert queue.depth == 0

    asyncio.run(scenario())


def test_when_the_store_is_down_before_starting_the_delivery_is_requeued_without_running_the_model() -> None:
    async def scenario() -> None:
        queue, store = memory_queue(), FailingResultStore()
        [request_id] = await submit_all(queue, store, [png_bytes()])
        classifier = StubClassifier()
        store.down = True
        report = await ProcessBatch(
            queue, store, classifier, clock=clock, max_attempts=WORKER.max_attempts, store_patience=0.0
        )(await receive_all(queue))
        assert report == BatchReport(requeued=1)
        assert classifier.batch_sizes == []
        store.down = False
        assert (await store.get(request_id)).status is RequestStatus.QUEUED
        assert queue.depth == 1

    asyncio.run(scenario())


def test_a_delivery_whose_record_expired_is_dropped_without_running_the_model() -> None:
    async def scenario() -> None:
        queue, store = memory_queue(), memory_store()
        classifier = StubClassifier()
        [request_id] = await submit_all(queue, store, [png_bytes()])
        await store.delete(request_id)  # as its time-to-live would
        report = await ProcessBatch(
            queue, store, classifier, clock=clock, max_attempts=WORKER.max_attempts, store_patience=0.0
        )(await receive_all(queue))
        assert report == BatchReport(skipped=1)
        assert classifier.batch_sizes == []
        assert queue.depth == 0

    asyncio.run(scenario())


def test_an_empty_batch_does_nothing() -> None:
    classifier = StubClassifier()
    report = asyncio.run(
        ProcessBatch(
            memory_queue(),
            memory_store(),
            classifier,
            clock=clock,
            max_attempts=WORKER.max_attempts,
            store_patience=0.0,
        )([])
    )
    assert report == BatchReport()
    assert classifier.batch_sizes == []
