"""The real server writes each response (head and body) to its socket in one call, not two."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from entrypoints.http.guarded_protocol import GuardedProtocol
from tests.e2e.test_hostile_http_clients import SECRET, SUBMIT, serving
from tests.images import png_bytes


class CountingTransport:
    """The socket's transport, counting the calls that write to it."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self.writes: list[int] = []  # bytes per call

    def write(self, data: bytes) -> None:
        self.writes.append(len(data))
        self._transport.write(data)

    def writelines(self, parts: Any) -> None:
        parts = list(parts)
        self.writes.append(sum(len(part) for part in parts))
        self._transport.writelines(parts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def test_each_response_reaches_the_socket_in_one_write(monkeypatch: pytest.MonkeyPatch) -> None:
    transports: list[CountingTransport] = []
    connection_made = GuardedProtocol.connection_made

    def counted(protocol: GuardedProtocol, transport: asyncio.Transport) -> None:
        transports.append(CountingTransport(transport))
        connection_made(protocol, transports[-1])  # type: ignore[arg-type]

    monkeypatch.setattr(GuardedProtocol, "connection_made", counted)
    with (
        serving() as (url, _, _),
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {SECRET}"}) as client,
    ):
        assert client.get("/api/health").status_code == 200
        submitted = client.post(SUBMIT, files={"image": ("a.png", png_bytes(), "image/png")})
        assert submitted.status_code == 202, submitted.text
        result = client.get(submitted.headers["location"], params={"wait": 10})
        assert result.status_code == 200, result.text

    [connection] = transports  # one keep-alive connection, three responses
    assert len(connection.writes) == 3, connection.writes
