"""A pika AsyncioConnection that can hold its frames back and write them to the socket together."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

from pika.adapters.asyncio_connection import AsyncioConnection

# A joined write stops growing here, which bounds the memory the joining adds (an outbox may hold
# a hundred megabytes of images under load). Smaller buffers cost more per message: 1 MiB kept
# only a third of the gain in a quick measurement, 8 MiB all of it.
WRITE_BYTES = 8 * 1024 * 1024


class CorkedConnection(AsyncioConnection):  # type: ignore[misc]  # pika is untyped
    """Frames written inside `corked()` reach the transport joined, in one buffer when it ends
    (or one per WRITE_BYTES).

    pika hands its transport each frame as a buffer of its own, and the transport sends each
    buffer with a `send` of its own: a message is three frames (method, header, body), so an
    outbox of n messages made 3n system calls, and the broker as many reads (they were most of
    the publishing CPU). Corked, an outbox makes one, or a few when the socket takes only part
    of it. Each message's frames are whole before the first is written (pika marshals them all
    first), so a failed publish leaves no partial message among them.
    """

    _held: list[bytes] | None = None
    _held_bytes = 0

    @contextmanager
    def corked(self) -> Iterator[None]:
        self._held, self._held_bytes = [], 0
        try:
            yield
        finally:
            self._write_held()
            self._held = None

    def _adapter_emit_data(self, data: bytes) -> None:
        if self._held is None:
            super()._adapter_emit_data(data)
            return
        self._held.append(data)
        self._held_bytes += len(data)
        if self._held_bytes >= WRITE_BYTES:
            self._write_held()

    def _write_held(self) -> None:
        if self._held:
            # A memoryview: pika slices what a partial send leaves, and a slice of bytes would
            # copy the rest of a buffer that may hold many images, again at each partial send.
            super()._adapter_emit_data(cast(bytes, memoryview(b"".join(self._held))))
            self._held.clear()
            self._held_bytes = 0


def close_socket(connection: AsyncioConnection | None) -> None:
    """Close `connection`'s socket: for a connection whose event loop has closed, so that nothing
    can run its orderly close any more (the broker sees the socket end, and requeues what it
    had delivered on it)."""
    transport = getattr(connection, "_transport", None)  # pika's; None while connecting
    sock = getattr(transport, "_sock", None)
    if sock is not None:
        sock.close()
