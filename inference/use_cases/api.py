"""The API's use cases: submit a request, read its result, watch it change, cancel it
(idempotent submits: `idempotency`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import timedelta

from inference.clock import Clock, utc_now
from inference.domain import InferenceRequest, RequestId, RequestRecord
from inference.errors import (
    AlreadyTerminal,
    InvalidDeadline,
    StoreUnavailable,
    UnknownRequest,
    WebhooksNotConfigured,
)
from inference.log_fields import request_fields
from inference.media import ImageLimits
from inference.ports import ImageInspector, Publisher, ResultStore, TerminalWatch, WebhookSender
from inference.transitions import Cancel
from inference.webhook_delivery import Webhook

log = logging.getLogger(__name__)


class SubmitRequest:
    """Accept an image: read its header and hold it to the limits, record it as queued, then
    enqueue it (so no worker finds it unknown). A refused image leaves nothing behind.

    `deadline` (seconds from now, else `default_deadline`; at most `max_deadline`) becomes the
    request's absolute `deadline_at`. `request_id` is a new one unless the caller chose it (an
    idempotent submit claims its key for an id before submitting).

    A webhook is checked (`WebhookSender.check`: the SSRF guard) before anything is stored;
    without a `webhooks` sender (no signing secret configured) one is refused.
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
        webhooks: WebhookSender | None = None,
    ) -> None:
        self._webhooks = webhooks
        self._publisher = publisher
        self._store = store
        self._inspector = inspector
        self._limits = limits
        self._default_deadline = default_deadline
        self._max_deadline = max_deadline
        self._clock = clock

    async def __call__(
        self,
        image: bytes,
        top_k: int,
        deadline: float | None = None,
        request_id: RequestId | None = None,
        traceparent: str | None = None,
        webhook: str | None = None,
    ) -> RequestRecord:
        """`traceparent`: the W3C trace context the request travels under, to the worker and its record."""
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
        if webhook is not None:
            if self._webhooks is None:
                raise WebhooksNotConfigured(
                    "this service sends no webhooks: it has no signing secret (INFERENCE_WEBHOOK__SECRET)"
                )
            await self._webhooks.check(webhook)
        now = self._clock()
        request = InferenceRequest(
            id=request_id or RequestId.new(),
            image=image,
            media_type=header.media_type,
            top_k=top_k,
            submitted_at=now,
            traceparent=traceparent,
            deadline_at=None if deadline is None else now + timedelta(seconds=deadline),
        )
        record = RequestRecord.queued(request)
        if webhook is not None:
            record = replace(record, webhook=Webhook(webhook))
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

    def watch(self, request_id: RequestId) -> AbstractAsyncContextManager[TerminalWatch]:
        """For a submitter that waits for its result: entered before submitting `request_id`,
        its wait reads nothing it already knows (see `ResultStore.watch_terminal`)."""
        return self._store.watch_terminal(request_id)


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


class WatchRequest:
    """A request's record as it stands, then each change of it, until it is terminal or
    `duration` seconds have passed (a status stream's events)."""

    def __init__(self, store: ResultStore) -> None:
        self._store = store

    async def __call__(
        self, request_id: RequestId, duration: float, current: RequestRecord | None = None
    ) -> AsyncIterator[RequestRecord]:
        """`current`, if the caller read it already, stands for the record as it stands."""
        deadline = time.monotonic() + duration
        record = current if current is not None else await self._store.get(request_id)
        yield record
        while not record.status.is_terminal and (remaining := deadline - time.monotonic()) > 0:
            changed = await self._store.wait_for_change(request_id, record, remaining)
            if changed == record:
                return  # the time is up
            record = changed
            yield record
