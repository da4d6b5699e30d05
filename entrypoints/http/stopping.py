"""`Stopping`: the event `StoppingServer` sets when it is asked to stop, and what a long wait
races against it (a status stream, a submission waiting for its result)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request


class Stopping(asyncio.Event):
    """An event that also hands out one future, done when it is set: a wait can then race it
    beside its own work without a task of its own to wait on the event (a submission that
    waits for its result, `prefer_wait`, is the API's most frequent request)."""

    def __init__(self) -> None:
        super().__init__()
        self._future: asyncio.Future[None] | None = None

    def set(self) -> None:
        super().set()
        if self._future is not None and not self._future.done():
            self._future.set_result(None)

    def as_future(self) -> asyncio.Future[None]:
        """Of the running loop (the server's; a new loop gets a new one)."""
        loop = asyncio.get_running_loop()
        if self._future is None or self._future.get_loop() is not loop:
            self._future = loop.create_future()
            if self.is_set():
                self._future.set_result(None)
        return self._future


def stopping_future(request: Request) -> asyncio.Future[None] | None:
    """Done once the server is asked to stop; None when the app runs under another server. It
    is shared: await it, never cancel it."""
    stopping = getattr(request.app.state, "stopping", None)
    return stopping.as_future() if isinstance(stopping, Stopping) else None
