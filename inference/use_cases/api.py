"""The API's use cases: submit a request, read its result, cancel it (idempotent submits: `idempotency`)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from inference.clock import Clock, utc_now
from inference.domain import Cancel, InferenceRequest, RequestId, RequestRecord
from inference.errors import AlreadyTerminal, InvalidDeadline, StoreUnavailable, UnknownRequest
from inference.media import ImageLimits
from inference.ports import ImageInspector, Publisher, ResultStore

log = logging.getLogger(__name__)


class SubmitRequest:
    """Accept an image: read its header and hold it to the limits, record it as queued, then
    enqueue it (so no worker finds it unknown). A refused image leaves nothing behind.

    `deadline` (seconds from now, else `default_deadline`; at most `max_deadline`) becomes the
    request's absolute `deadline_at`. `request_id` is a new one unless the caller chose it (an
    idempotent submit claims its key for an id before submitting).
    """

    def __init__(
        self,
        publisher: Publisher,
        store: ResultStore,
        inspector: ImageInspector,
        limits: ImageLimits,
        default_deadline: float | None,
        max_deadline: float,
        clock: Clock = utc_now,
    ) -> None:
        self._publisher = publisher
        self._store = store
        self._inspector = inspector
        self._limits = limits
        self._default_deadline = default_deadline
        self._max_deadline = max_deadline
        self._clock = clock

    async def __call__(
        self, image: bytes, top_k: int, deadline: float | None = None, request_id: RequestId | None = None
    ) -> RequestRecord:
        deadline = self._default_deadline if deadline is None else deadline
        if deadline is not None and not 0 < deadline <= self._max_deadline:
            raise InvalidDeadline(
                f"deadline must be over 0 and at most {self._max_deadline:g} s, got {deadline:g}"
            )
        # A real header takes microseconds, read on the loop; one that needs more (a hostile
        # file can take far longer) is read in a thread, which costs the hop only then.
        header = self._inspector.inspect_quickly(image, self._limits.max_frames)
        if header is None:
            header = await asyncio.to_thread(self._inspector.inspect, image, self._limits.max_frames)
        self._limits.check(header)
        now = self._clock()
        request = InferenceRequest(
            id=request_id or RequestId.new(),
            image=image,
            media_type=header.media_type,
            top_k=top_k,
            submitted_at=now,
            deadline_at=None if deadline is None else now + timedelta(seconds=deadline),
        )
        record = RequestRecord.queued(request)
        await self._store.add(record)
        try:
            await self._publisher.publish(request)
        except BaseException:
            # The client is told to retry: a "queued" record that no message backs would never
            # finish, so take it back (if the store is down too, its time-to-live clears it).
            try:
                await self._store.delete(request.id)
            except StoreUnavailable:
                log.warning("could not delete unpublished request %s", request.id)
            raise
        return record


class GetResult:
    """A request's record, optionally waiting (long-poll) for it to become terminal."""

    def __init__(self, store: ResultStore) -> None:
        self._store = store

    async def __call__(self, request_id: RequestId, wait: float = 0.0) -> RequestRecord:
        if wait > 0:
            return await self._store.wait_for_terminal(request_id, wait)
        return await self._store.get(request_id)


class CancelRequest:
    """Cancel a request that is queued or processing; AlreadyTerminal (with the record as it
    stands) for one that finished first.

    A queued request is canceled at once and its worker later acknowledges it without running
    the model. One already processing is canceled best-effort: the model may be running it, but
    its result is refused by the record (terminal now) and discarded.
    """

    def __init__(self, store: ResultStore, clock: Clock = utc_now) -> None:
        self._store = store
        self._clock = clock

    async def __call__(self, request_id: RequestId) -> RequestRecord:
        [outcome] = await self._store.transition([(request_id, Cancel(self._clock()))])
        if isinstance(outcome, UnknownRequest):
            raise outcome
        if isinstance(outcome, RequestRecord):
            return outcome
        current = outcome.current
        raise AlreadyTerminal(f"request {request_id} is already {current.status.value}", current=current)
