"""`Prefer: wait=N` on a submission (RFC 7240): the result in the POST's own answer, if it is
ready within N seconds, instead of a 202 and a long-poll after it.

A client that wants the result at once then makes one HTTP request where it made two: the
API's per-request work (parsing, routing, the response, the access line) is paid once, and the
result arrives a round trip sooner. The submission is accepted exactly as without the header
(the broker's confirm first); only the answer waits. Whatever keeps the result from coming in
time (the wait runs out, the store does not answer, the server is stopping) gives the plain
202, so a client always learns its request id and reads the result as usual.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager, nullcontext
from dataclasses import dataclass

from fastapi import Request

from entrypoints.http.route_helpers import container_of
from entrypoints.http.stopping import stopping_future
from inference.domain import RequestId, RequestRecord
from inference.errors import StoreUnavailable
from inference.ports import TerminalWatch

log = logging.getLogger(__name__)

# A header parameter for the OpenAPI document (it is read by hand, see `preferred_wait`).
OPENAPI_PARAMETER = {
    "name": "Prefer",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "examples": ["wait=10", "respond-async, wait=10"]},
    "description": "`wait=N` (RFC 7240): answer 200 with the request's record if it is finished "
    "within N seconds (at most 30), else the usual 202. The answer then carries "
    "`Preference-Applied: wait=N`. Other preferences are ignored.",
}


def preferred_wait(request: Request, most: float) -> int | None:
    """The seconds of the first `wait` preference of the request's `Prefer` headers (capped at
    `most`), or None: none asked, or none readable (RFC 7240 has a server ignore what it cannot
    use, rather than refuse the request)."""
    for header in request.headers.getlist("prefer"):
        for preference in header.split(","):
            token, _, value = preference.split(";", 1)[0].partition("=")
            if token.strip().lower() != "wait":
                continue
            seconds = value.strip().strip('"')
            if not seconds.isdigit():  # delta-seconds: a non-negative integer
                return None
            return min(int(seconds), int(most)) or None
    return None


@dataclass(frozen=True)
class Watched:
    """The id a waiting submission gives its request, and the watch on it (None if the store
    could not listen: the wait then reads as a long-poll does)."""

    request_id: RequestId
    watch: TerminalWatch | None


def watching(request: Request, wait: int | None) -> AbstractAsyncContextManager[Watched | None]:
    """For a submission that waits (`wait` not None): the watch on its request, entered before
    the request exists, so its wait need not read the record first; else nothing."""
    return nullcontext() if wait is None else _watching(request)


@asynccontextmanager
async def _watching(request: Request) -> AsyncIterator[Watched]:
    request_id = RequestId.new()
    async with AsyncExitStack() as stack:
        watch = None
        try:
            watch = await stack.enter_async_context(container_of(request).get_result().watch(request_id))
        except StoreUnavailable as failure:  # the submission goes on; its wait will say more
            log.info("submitting %s unwatched: %s", request_id, failure)
        yield Watched(request_id, watch)


async def finished_within(
    request: Request, request_id: RequestId, seconds: float, watched: Watched | None = None
) -> RequestRecord | None:
    """The request's record if it is terminal within `seconds`, else None (at once when the
    server starts stopping: its client reads the result from another process). `watched`, if
    it watches this very request (not a replay's), spares the wait its first read."""
    stop = stopping_future(request)
    if stop is not None and stop.done():
        return None
    if watched is not None and watched.watch is not None and watched.request_id == request_id:
        waiting = asyncio.ensure_future(watched.watch.terminal_within(seconds))
    else:
        waiting = asyncio.ensure_future(_terminal(container_of(request).get_result()(request_id, seconds)))
    try:
        racing = (waiting,) if stop is None else (waiting, stop)
        await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
    finally:  # also when this request is cancelled: the wait is of no use to anyone then
        if not waiting.done():
            waiting.cancel()
    if not waiting.done() or waiting.cancelled():  # the server is stopping
        return None
    failure = waiting.exception()
    if failure is not None:  # it was accepted: the 202 still holds, and its reads will say more
        log.info("answering 202: the result of %s could not be awaited: %s", request_id, failure)
        return None
    return waiting.result()


async def _terminal(record: Awaitable[RequestRecord]) -> RequestRecord | None:
    found = await record
    return found if found.status.is_terminal else None
