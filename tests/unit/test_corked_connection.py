"""The publisher's connection writes a burst of messages to its socket together (no server: the
connection is never opened, its transport is a recorder)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pika
import pytest
from pika.spec import Basic

from adapters.rabbitmq import corked as corked_module
from adapters.rabbitmq.corked import CorkedConnection


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """Never run: it would be the only thing to connect the connections."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def _connection(loop: asyncio.AbstractEventLoop) -> tuple[CorkedConnection, RecordingTransport]:
    connection = CorkedConnection(pika.ConnectionParameters(host="127.0.0.1", port=1), custom_ioloop=loop)
    transport = RecordingTransport()
    connection._transport = transport
    connection._body_max_length = 131_072 - 8  # as a broker's tune would set it (frame_max)
    return connection, transport


def _publish(connection: CorkedConnection, body: bytes) -> None:
    method = Basic.Publish(exchange="", routing_key="requests", mandatory=True)
    connection._send_message(1, method, (pika.BasicProperties(delivery_mode=2), body))


def test_messages_published_while_corked_reach_the_socket_in_one_write_of_the_same_bytes(
    loop: asyncio.AbstractEventLoop,
) -> None:
    corked, corked_transport = _connection(loop)
    plain, plain_transport = _connection(loop)
    bodies = [b"first image", b"second image", b"x" * 300_000]  # the last spans several body frames

    with corked.corked():
        for body in bodies:
            _publish(corked, body)
        assert corked_transport.writes == []  # held until the cork comes out
    for body in bodies:
        _publish(plain, body)

    assert len(plain_transport.writes) >= 3 * len(bodies)  # a write per frame, uncorked
    assert corked_transport.writes == [b"".join(plain_transport.writes)]


def test_a_cork_holds_no_more_than_write_bytes_before_it_writes(
    loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(corked_module, "WRITE_BYTES", 1000)
    corked, corked_transport = _connection(loop)
    plain, plain_transport = _connection(loop)

    with corked.corked():
        for _ in range(5):
            _publish(corked, b"i" * 600)
    for _ in range(5):
        _publish(plain, b"i" * 600)

    assert len(corked_transport.writes) > 1
    assert all(len(write) < 1000 + 700 for write in corked_transport.writes)  # the limit, plus a frame
    assert b"".join(corked_transport.writes) == b"".join(plain_transport.writes)


def test_outside_a_cork_each_frame_is_written_at_once(loop: asyncio.AbstractEventLoop) -> None:
    connection, transport = _connection(loop)

    _publish(connection, b"an image")

    assert len(transport.writes) == 3  # method, header, body
