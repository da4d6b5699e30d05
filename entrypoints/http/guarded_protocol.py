"""The connection guard of the HTTP server (uvicorn on httptools): clients that send too much or
too slowly.

uvicorn bounds neither the size of a request's headers on httptools (its h11 knob does not apply
there; httptools grows each header by concatenation, superlinear in its size) nor the time a
client may take to send its headers or its body. One client could thus hold a connection, a file
descriptor and the event loop's time for as long as it liked. `GuardedProtocol` adds the three
bounds where the bytes arrive, before the application (or any API-key check) sees the request:

- headers past `max_header_bytes` in all: 431, and the connection closes;
- headers not complete within `header_timeout_seconds` of the connection (or of the previous
  response) becoming idle: 408, closed;
- a body that stops arriving for `body_timeout_seconds` while the application waits for it: 408
  (or a plain close when a response has started), and the application sees a disconnect.

It also gives each request's cycle a transport that writes a response's head with its body
(`joined_writes`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from entrypoints.http.joined_writes import JoinedWrites
from entrypoints.settings import ApiSettings

# Its lines keep the server's logger name, which operators already filter on.
log = logging.getLogger("entrypoints.http.server")


def guarded_protocol(settings: ApiSettings) -> type[HttpToolsProtocol]:
    """uvicorn builds one protocol per connection from a class: the settings travel on it."""
    return type(
        "GuardedProtocol",
        (GuardedProtocol,),
        {
            "max_header_bytes": settings.max_header_bytes,
            "header_timeout": settings.header_timeout_seconds,
            "body_timeout": settings.body_timeout_seconds,
        },
    )


class GuardedProtocol(HttpToolsProtocol):
    max_header_bytes = 64 * 1024
    header_timeout = 10.0
    body_timeout = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._headers_pending = True  # the parser waits for a request's headers
        self._header_bytes = 0  # fed while they were pending (a bound: may include a body's tail)
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._refused = False
        self._completed = False  # a request ended during the current data_received

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        pending, self._completed = self._headers_pending, False
        super().data_received(data)
        # Only bytes that can all be header bytes count: not those of a chunk that ended a request.
        if pending and self._headers_pending and not self._completed and not self._refused:
            self._header_bytes += len(data)
            if self._header_bytes > self.max_header_bytes:
                self._refuse(431, "headers_too_large", f"the headers exceed {self.max_header_bytes} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._headers_pending, self._header_bytes = True, 0
        if self._header_timer is None:
            self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._headers_pending = False
        self._cancel_header_timer()
        before = self.cycle
        super().on_headers_complete()
        if self.cycle is not before and self.cycle is not None:  # a new request (not an upgrade)
            self.cycle.transport = JoinedWrites(self.transport, self.cycle, self.loop)  # type: ignore[assignment]
        self._arm_body_timer()

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        if not self.cycle.response_complete:  # a body no one will read earns no more time
            self._arm_body_timer()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._headers_pending, self._completed = True, True
        self._cancel_body_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._arm_header_timer()  # idle again: the next request's headers are due

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _arm_body_timer(self) -> None:
        self._cancel_body_timer()
        self._body_timer = self.loop.call_later(self.body_timeout, self._body_too_slow)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _cancel_timers(self) -> None:
        self._cancel_header_timer()
        self._cancel_body_timer()

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        busy = self.cycle is not None and not self.cycle.response_complete
        if self._headers_pending and not busy:  # never cut a response the application is making
            self._refuse(408, "request_timeout", f"the headers took over {self.header_timeout:g} s")

    def _body_too_slow(self) -> None:
        self._body_timer = None
        if self.flow.read_paused:  # we stopped reading (the application is behind), not the client
            self._arm_body_timer()
            return
        self._refuse(408, "request_timeout", f"the body stopped arriving for {self.body_timeout:g} s")

    def _refuse(self, status: int, code: str, detail: str) -> None:
        """Answer `status` (unless a response has begun), close, and tell the application."""
        self._refused = True
        self._cancel_timers()
        log.info("%s from %s: %s", status, _peer(self.client), detail)
        cycle = self.cycle if self.cycle is not None and not self.cycle.response_complete else None
        if self.transport.is_closing():
            return
        if cycle is None or not cycle.response_started:
            self.transport.write(_raw_response(status, code, detail))
        if cycle is not None:  # the application's receive() returns a disconnect; its send(), nothing
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()


_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


def _raw_response(status: int, code: str, detail: str) -> bytes:
    body = json.dumps({"detail": detail, "code": code}).encode()
    head = (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
        % (status, _REASONS[status], len(body))
    )
    return head + body


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "a client"
