"""A response's head and the first part of its body, written to the socket in one system call.

uvicorn writes a response's status line and headers as soon as the application sends
`http.response.start`, and its body at `http.response.body`: two writes, and two TCP segments
for the client to read, for every response of this API (each a few hundred bytes). Most
responses send both messages in the same step of their task; `JoinedWrites` holds the head back
until the body's first write, or until the end of that step of the event loop at the latest, so
that a response that streams (the status stream) still shows its head at once.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from uvicorn.protocols.http.httptools_impl import RequestResponseCycle


class JoinedWrites:
    """The transport one request/response cycle writes through (everything else is the socket's)."""

    __slots__ = ("_cycle", "_flush", "_head", "_head_seen", "_loop", "_transport")

    def __init__(
        self, transport: asyncio.Transport, cycle: RequestResponseCycle, loop: asyncio.AbstractEventLoop
    ) -> None:
        # A weak reference: the cycle holds this transport, and a cycle of references would leave
        # the request (and its body, megabytes for an image) to the garbage collector, not to
        # the reference count, once the response is done.
        self._transport, self._cycle, self._loop = transport, weakref.ref(cycle), loop
        self._head: bytes | None = None
        self._head_seen = False
        self._flush: asyncio.Handle | None = None

    def write(self, data: bytes) -> None:
        if self._head is not None:  # the body's first part: both in one call
            head, self._head = self._head, None
            if self._flush is not None:
                self._flush.cancel()
                self._flush = None  # it holds this transport: no cycle left behind
            self._transport.writelines((head, data))
        elif self._started() and not self._head_seen:  # the head: uvicorn writes it first
            self._head_seen, self._head = True, data
            self._flush = self._loop.call_soon(self.write_held)
        else:  # a 100 Continue, or the body's later parts
            self._transport.write(data)

    def write_held(self) -> None:
        self._flush = None
        if self._head is not None:
            head, self._head = self._head, None
            if not self._transport.is_closing():
                self._transport.write(head)

    def _started(self) -> bool:
        cycle = self._cycle()
        return cycle is not None and cycle.response_started

    def close(self) -> None:
        self.write_held()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info, …
        return getattr(self._transport, name)
