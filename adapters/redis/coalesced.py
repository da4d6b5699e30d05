"""Single-key commands of one event loop step sent together, as one pipeline.

Submissions that arrive together (many clients at once, a burst) each wrote their record with
a round trip of its own: a socket write, a wake-up for the reply, and a pool checkout each, and
as many reads for Redis. Sent together they cost one of each. This is the auto-pipelining that
ioredis and other clients offer, on redis-py's own pipeline (`transaction=False`: no MULTI, each
command stands alone, as it did). A command waits at most until the callbacks that were ready
with it have run: a lone command leaves one loop step later, as itself, not as a pipeline.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis

_Batch = list[tuple[tuple[Any, ...], "asyncio.Future[Any]"]]


class Coalesced:
    """`execute(*command)`: the command's reply (after redis-py's response callback), or its
    error; the commands of one loop step leave together, on this client's pool. One event loop."""

    def __init__(self, client: Redis) -> None:
        self._client = client
        self._batch: _Batch | None = None
        self._sending: set[asyncio.Task[None]] = set()  # held: the loop keeps only weak references

    async def execute(self, *command: Any) -> Any:
        loop = asyncio.get_running_loop()
        if self._batch is None:
            self._batch = []
            loop.call_soon(self._send)
        future: asyncio.Future[Any] = loop.create_future()
        self._batch.append((command, future))
        # A caller that is cancelled stops waiting; its command still goes, as one already
        # written to the socket would.
        return await future

    def _send(self) -> None:
        batch, self._batch = self._batch or [], None
        task = asyncio.get_running_loop().create_task(self._run(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _run(self, batch: _Batch) -> None:
        try:
            if len(batch) == 1:
                replies = [await self._client.execute_command(*batch[0][0])]  # type: ignore[no-untyped-call]
            else:
                pipeline = self._client.pipeline(transaction=False)
                for command, _ in batch:
                    pipeline.execute_command(*command)
                # A command's own error (a wrong type, say) is its caller's alone.
                replies = await pipeline.execute(raise_on_error=False)
        except Exception as failure:  # the connection's: every command of the batch shares it
            for _, future in batch:
                if not future.done():
                    future.set_exception(failure)
            return
        except BaseException:  # the sending task cancelled (its loop shutting down): so are they
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), reply in zip(batch, replies, strict=True):
            if future.done():
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)
