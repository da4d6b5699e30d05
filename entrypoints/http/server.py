"""The HTTP server: uvicorn on httptools, with the connection guard of `guarded_protocol` (bounds
on the size and pace of what clients send), a stop that ends status streams, and freed memory
handed back to the system.
"""

from __future__ import annotations

import asyncio
import ctypes
import socket
from types import FrameType

import uvicorn
from fastapi import FastAPI

from entrypoints.http.access_log import redact_access_log
from entrypoints.http.guarded_protocol import guarded_protocol
from entrypoints.http.stopping import Stopping
from entrypoints.settings import ApiSettings


def build_server(app: FastAPI, settings: ApiSettings, host: str, port: int, log_level: str) -> uvicorn.Server:
    """The uvicorn server `inference serve` and `inference api` run (and the tests start)."""
    # log_config None: uvicorn's records go to the root logger, which `configure_logging` set up.
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, http=guarded_protocol(settings), log_config=None
    )
    redact_access_log()
    return_freed_memory()
    app.state.stopping = stopping = Stopping()
    return StoppingServer(config, stopping)


class StoppingServer(uvicorn.Server):
    """uvicorn, telling the application when it is asked to stop (`app.state.stopping`).

    uvicorn waits for every response in progress before it stops: an open status stream would
    hold a SIGTERM up for as long as the stream may last (INFERENCE_API__EVENTS_SECONDS). The
    streams end on this event instead, and their clients reconnect to another process.
    """

    def __init__(self, config: uvicorn.Config, stopping: Stopping) -> None:
        super().__init__(config)
        self._stopping = stopping
        self._loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None:  # a signal handler: the loop is woken through its own queue
            self._loop.call_soon_threadsafe(self._stopping.set)


_M_MMAP_THRESHOLD, _M_ARENA_MAX = -3, -8  # glibc's mallopt parameters


def return_freed_memory() -> None:
    """Let the memory of finished uploads go back to the system.

    Uploads are large buffers that live a moment. glibc's defaults keep their pages: its mmap
    threshold rises to the largest block freed so far (later uploads then come from the heap,
    where a few live objects pin the pages between them), and each thread that touches one gets
    its own arena. A fixed threshold and two arenas return the pages once the uploads are gone.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: another allocator, with its own habits
        return
    libc.mallopt(_M_MMAP_THRESHOLD, 256 * 1024)
    libc.mallopt(_M_ARENA_MAX, 2)
