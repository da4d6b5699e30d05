"""The API's use cases: submit a request, and read its result."""

from __future__ import annotations

import asyncio
import logging

from inference.clock import Clock, utc_now
from inference.domain import InferenceRequest, RequestId, RequestRecord
from inference.errors import StoreUnavailable
from inference.log_fields import request_fields
from inference.media import ImageLimits
from inference.ports import ImageInspector, Publisher, ResultStore

log = logging.getLogger(__name__)


class SubmitRequest:
    """Accept an image: read its header and hold it to the limits, record it as queued, then
    enqueue it (so no worker finds it unknown). A refused image leaves nothing behind."""

    def __init__(
        self,
        publisher: Publisher,
        store: ResultStore,
        inspector: ImageInspector,
        limits: ImageLimits,
        clock: Clock = utc_now,
    ) -> None:
        self._publisher = publisher
        self._store = store
        self._inspector = inspector
        self._limits = limits
        self._clock = clock

    async def __call__(self, image: bytes, top_k: int, traceparent: str | None = None) -> RequestRecord:
        """`traceparent`: the W3C trace context the request travels under, to the worker and its record."""
        # A real header takes microseconds, read on the loop; one that needs more (a hostile
        # file can take far longer) is read in a thread, which costs the hop only then.
        header = self._inspector.inspect_quickly(image, self._limits.max_frames)
        if header is None:
            header = await asyncio.to_thread(self._inspector.inspect, image, self._limits.max_frames)
        self._limits.check(header)
        request = InferenceRequest(
            id=RequestId.new(),
            image=image,
            media_type=header.media_type,
            top_k=top_k,
            submitted_at=self._clock(),
            traceparent=traceparent,
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
                log.warning(
                    "could not delete unpublished request %s", request.id, extra=request_fields(request)
                )
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
