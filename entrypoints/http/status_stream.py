"""The status stream's events: a request's record at each change, until terminal, or until the
server is stopping (`StoppingServer`), or the record can no longer be read."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from fastapi.sse import ServerSentEvent

from entrypoints.container import Container
from entrypoints.http.stopping import stopping_future
from entrypoints.views import record_json
from inference.domain import RequestRecord
from inference.errors import StoreUnavailable, UnknownRequest

log = logging.getLogger(__name__)


async def status_events(
    request: Request, container: Container, current: RequestRecord
) -> AsyncIterator[ServerSentEvent]:
    watch = container.watch_request()
    records = watch(current.request_id, container.config.api.events_seconds(), current)
    try:
        async for record in _until_stopping(request, records):
            yield ServerSentEvent(
                raw_data=record_json(record).decode(),
                event="status",
                id=record.updated_at.isoformat(),
            )
    except (UnknownRequest, StoreUnavailable) as exc:
        # Headers are sent: the stream just ends, and a client that reconnects hears why.
        log.info("status stream of %s ended: %s", current.request_id, exc)


async def _until_stopping(
    request: Request, records: AsyncIterator[RequestRecord]
) -> AsyncIterator[RequestRecord]:
    stop = stopping_future(request)
    step: asyncio.Future[RequestRecord] | None = None
    try:
        while True:
            step = asyncio.ensure_future(anext(records))
            racing: set[asyncio.Future[Any]] = {step} if stop is None else {step, stop}
            await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
            if not step.done():  # the server is stopping
                return
            try:
                yield step.result()
            except StopAsyncIteration:
                return
    finally:
        # Also when the client went away (this generator is then cancelled): the step in hand is
        # cancelled, not awaited, as nothing of it is needed any more. (`stop` is shared.)
        if step is not None:
            step.cancel()
