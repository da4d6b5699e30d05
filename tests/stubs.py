"""Canned-answer doubles and small helpers shared by every test.

Where a working memory adapter exists the tests use it; the doubles here only add what a test
must control: a classifier with known answers, and stores and queues that can be switched off.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from concurrent.futures import Future
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from adapters.memory import MemoryQueue, MemoryResultStore
from inference.domain import InferenceRequest, RequestId, RequestRecord
from inference.errors import (
    InvalidImage,
    InvalidTransition,
    QueueUnavailable,
    StoreUnavailable,
    UnknownRequest,
)
from inference.media import ImageHeader, sniff_media_type
from inference.outcomes import Failure, LabelScore, ModelInfo, Prediction
from inference.ports import Classifier, Delivery, ImageInspector, TerminalWatch
from inference.timings import BatchTimings
from inference.transitions import Transition
from tests.images import PNG_SIGNATURE, png_with_broken_data

T = TypeVar("T")

# The stub's rules, by content: a test builds such an image with the helpers below.
UNDECODABLE_MARKER = b"BAD"
CRASH_MARKER = b"CRASH"


class StubClassifier(Classifier):
    """A classifier with canned answers.

    - An image containing UNDECODABLE_MARKER yields Failure("invalid_image", ...), as a real
      classifier does for an image it cannot decode; the rest of the batch is unaffected.
    - A batch holding an image that contains `crash_marker` raises RuntimeError as a whole, as a
      model that crashes does (pass `crash_marker=None` to switch this off).
    - Otherwise the scores are `scores` (a fixed vector, one per label) or `scores(image)`; by
      default the first label is the most likely. They are reported as given, best first, cut
      to the request's top_k.

    `batch_sizes` records the size of every batch it was called with, crashing ones included.
    """

    def __init__(
        self,
        labels: Sequence[str] = ("cat", "dog", "fish"),
        scores: Sequence[float] | Callable[[bytes], Sequence[float]] | None = None,
        crash_marker: bytes | None = CRASH_MARKER,
        name: str = "stub-net",
        version: str = "1",
    ) -> None:
        if not labels:
            raise ValueError("a classifier needs at least one label")
        self._labels = tuple(labels)
        if scores is None:
            # n, n-1, ..., 1 normalised: a distribution, strictly best first, no ties.
            total = len(labels) * (len(labels) + 1) / 2
            scores = [(len(labels) - i) / total for i in range(len(labels))]
        if not callable(scores):
            self._check_length(scores)
        self._scores = scores
        self._crash_marker = crash_marker
        self._model = ModelInfo(name=name, version=version, labels=self._labels, input_size=224)
        self._lock = threading.Lock()
        self.batch_sizes: list[int] = []

    @property
    def model(self) -> ModelInfo:
        return self._model

    def classify(self, batch: Sequence[InferenceRequest]) -> list[Prediction | Failure]:
        return self.classify_timed(batch)[0]

    def classify_timed(
        self, batch: Sequence[InferenceRequest]
    ) -> tuple[list[Prediction | Failure], BatchTimings]:
        """Timed as a real classifier is: the markers' checks stand for decoding, the scores for the model."""
        started = time.perf_counter()
        with self._lock:
            self.batch_sizes.append(len(batch))
        if self._crash_marker is not None and any(self._crash_marker in r.image for r in batch):
            raise RuntimeError("the stub model crashed on this batch")
        checked = time.perf_counter()
        outcomes = [self._classify_one(request) for request in batch]
        return outcomes, BatchTimings(preprocess=checked - started, model=time.perf_counter() - checked)

    def _classify_one(self, request: InferenceRequest) -> Prediction | Failure:
        if UNDECODABLE_MARKER in request.image:
            return Failure("invalid_image", "the image could not be decoded")
        scores = self._scores(request.image) if callable(self._scores) else self._scores
        self._check_length(scores)
        ranked = sorted(zip(self._labels, scores, strict=True), key=lambda pair: pair[1], reverse=True)
        return Prediction(
            scores=tuple(LabelScore(label, float(score)) for label, score in ranked[: request.top_k]),
            model_name=self._model.name,
            model_version=self._model.version,
        )

    def _check_length(self, scores: Sequence[float]) -> None:
        if len(scores) != len(self._labels):
            raise ValueError(f"{len(scores)} scores for {len(self._labels)} labels")


class StubImageInspector(ImageInspector):
    """An inspector with canned answers: the media type is sniffed as a real inspector's is; the
    size and frames are the test's, or `error` is raised. `max_frames_seen` records each call."""

    def __init__(
        self, width: int = 8, height: int = 8, frames: int = 1, error: InvalidImage | None = None
    ) -> None:
        self._size, self._frames, self._error = (width, height), frames, error
        self.max_frames_seen: list[int] = []

    def inspect(self, image: bytes, max_frames: int) -> ImageHeader:
        self.max_frames_seen.append(max_frames)
        media_type = sniff_media_type(image)
        if self._error is not None:
            raise self._error
        # A real inspector stops counting past the limit, so the stub does too.
        return ImageHeader(media_type, *self._size, frames=min(self._frames, max_frames + 1))

    def inspect_quickly(self, image: bytes, max_frames: int) -> ImageHeader | None:
        sniff_media_type(image)  # what no inspection could accept is refused at once, as a real one does
        return None  # otherwise always the full inspection, so that `max_frames_seen` records each call


class GatedScores:
    """Scores for a StubClassifier that wait for `gate` and record every image the model ran."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.ran: list[bytes] = []
        self._lock = threading.Lock()

    def __call__(self, image: bytes) -> list[float]:
        self.gate.wait(timeout=30)
        with self._lock:
            self.ran.append(image)
        return [0.7, 0.2, 0.1]


class FailingQueue(MemoryQueue):
    """A MemoryQueue whose every method raises QueueUnavailable while `down` is set."""

    def __init__(self, *, down: bool = False, max_length: int = 10_000, max_attempts: int = 4) -> None:
        super().__init__(max_length=max_length, max_bytes=1 << 30, max_attempts=max_attempts, max_parked=100)
        self.down = down

    def _check(self) -> None:
        if self.down:
            raise QueueUnavailable("the stub broker is down")

    async def publish(self, request: InferenceRequest) -> None:
        self._check()
        await super().publish(request)

    async def receive(self, max_count: int, fill_wait: float, idle_wait: float) -> list[Delivery]:
        self._check()
        return await super().receive(max_count, fill_wait, idle_wait)

    async def ack(self, delivery: Delivery) -> None:
        self._check()
        await super().ack(delivery)

    async def ack_all(self, deliveries: Sequence[Delivery]) -> None:
        self._check()
        await super().ack_all(deliveries)

    async def reject(self, delivery: Delivery, requeue: bool) -> None:
        self._check()
        await super().reject(delivery, requeue)

    async def close(self) -> None:
        self._check()
        await super().close()

    async def ping(self) -> None:
        self._check()
        await super().ping()


class FailingResultStore(MemoryResultStore):
    """A MemoryResultStore whose every method raises StoreUnavailable while `down` is set.

    `added_ids` lists every id it accepted, so a test can look up records whose id the code
    under test never handed back (after a failed submission, say).
    """

    def __init__(
        self, *, down: bool = False, ttl: float = 3600.0, clock: Callable[[], float] | None = None
    ) -> None:
        if clock is None:
            super().__init__(ttl=ttl, max_records=100_000)
        else:
            super().__init__(ttl=ttl, max_records=100_000, clock=clock)
        self.down = down
        self.added_ids: list[RequestId] = []

    def _check(self) -> None:
        if self.down:
            raise StoreUnavailable("the stub store is down")

    async def add(self, record: RequestRecord) -> bool:
        self._check()
        added = await super().add(record)
        if added:
            self.added_ids.append(record.request_id)
        return added

    async def get(self, request_id: RequestId) -> RequestRecord:
        self._check()
        return await super().get(request_id)

    async def transition(
        self, transitions: Sequence[tuple[RequestId, Transition]]
    ) -> list[RequestRecord | InvalidTransition | UnknownRequest]:
        self._check()
        return await super().transition(transitions)

    async def wait_for_terminal(self, request_id: RequestId, timeout: float) -> RequestRecord:
        self._check()
        return await super().wait_for_terminal(request_id, timeout)

    @asynccontextmanager
    async def watch_terminal(self, request_id: RequestId) -> AsyncIterator[TerminalWatch]:
        self._check()
        async with super().watch_terminal(request_id) as watch:
            yield watch

    async def wait_for_change(
        self, request_id: RequestId, seen: RequestRecord | None, timeout: float
    ) -> RequestRecord:
        self._check()
        return await super().wait_for_change(request_id, seen, timeout)

    async def delete(self, request_id: RequestId) -> None:
        self._check()
        await super().delete(request_id)

    async def ping(self) -> None:
        self._check()
        await super().ping()


class FakeClock:
    """A monotonic clock (seconds) that moves only when a test says so."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def undecodable_image() -> bytes:
    """Bytes whose header reads as a PNG's but whose pixels no decoder can read."""
    return png_with_broken_data(UNDECODABLE_MARKER + b" truncated image data")


def crashing_image() -> bytes:
    """A PNG with a valid header on which StubClassifier crashes its whole batch."""
    return png_with_broken_data(CRASH_MARKER)


def in_another_thread(coroutine: Coroutine[Any, Any, T]) -> Future[T]:
    """Run `coroutine` on a new thread with its own event loop, as another process's client would.

    Await the result from a coroutine with `asyncio.wrap_future(future)`.
    """
    future: Future[T] = Future()

    def target() -> None:
        try:
            future.set_result(asyncio.run(coroutine))
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=target, daemon=True).start()
    return future


def a_request(
    image: bytes | None = None, top_k: int = 3, submitted_at: datetime | None = None
) -> InferenceRequest:
    """A valid request; by default a unique PNG-signed body, so no two requests are equal."""
    return InferenceRequest(
        id=RequestId.new(),
        image=image if image is not None else PNG_SIGNATURE + RequestId.new().value.bytes,
        media_type="image/png",
        top_k=top_k,
        submitted_at=submitted_at or datetime.now(UTC),
    )


def a_record(top_k: int = 3, submitted_at: datetime | None = None) -> RequestRecord:
    """A freshly queued record."""
    return RequestRecord.queued(a_request(top_k=top_k, submitted_at=submitted_at))


def a_prediction(label: str = "cat") -> Prediction:
    """A prediction of `label`, well ahead of one other."""
    return Prediction((LabelScore(label, 0.75), LabelScore("other", 0.25)), "net", "1")
