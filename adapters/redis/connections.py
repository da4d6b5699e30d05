"""redis.asyncio plumbing for the result store: a client per event loop, and one subscriber per
loop that hears every request's changes (its transitions, the terminal one included).

A subscription per long-poll would hold a Redis connection per waiting client: a hundred waiters
would exhaust redis-py's pool, and every other call would then fail with "Too many
connections". So one connection per loop holds a pattern subscription to all completion
channels, and waiters register locally.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from adapters.redis.coalesced import Coalesced
from adapters.redis.listener import Listener
from inference.backoff import Backoff
from inference.errors import StoreUnavailable

log = logging.getLogger(__name__)


class Completions:
    """One connection of `client`'s, subscribed to `pattern`; `listen` hands out local listeners.

    Publishers send to one channel per request; each message is heard by the listeners of its
    channel. If the subscription's connection drops, it is made again (messages sent meanwhile
    are lost: waiters must not rely on hearing one, and re-read what they wait for in slices).
    """

    def __init__(self, client: Redis, pattern: str, timeout: float, where: str) -> None:
        self._client, self._pattern, self._timeout, self._where = client, pattern, timeout, where
        self._waiters: dict[str, set[Listener]] = {}
        self._subscribed = asyncio.Event()
        self._attempted = asyncio.Event()  # the latest subscription attempt has ended, either way
        self._failure: BaseException | None = None  # why the latest attempt failed
        self._task: asyncio.Task[None] | None = None

    async def listen(self, channel: str) -> Listener:
        """A listener that hears every message on `channel` from a subscription that is in place
        when this returns; StoreUnavailable if there is none within the timeout, at once if the
        latest attempt failed. The caller must `forget` it once done waiting."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._subscribe_for_good())
        heard = Listener()
        self._waiters.setdefault(channel, set()).add(heard)
        if not self._subscribed.is_set():
            try:
                if self._failure is None:
                    await asyncio.wait_for(self._attempted.wait(), self._timeout)
                if not self._subscribed.is_set():
                    raise StoreUnavailable(f"{self._where} is unavailable (subscribe: {self._failure})")
            except (TimeoutError, StoreUnavailable) as exc:
                self.forget(channel, heard)
                if isinstance(exc, StoreUnavailable):
                    raise
                raise StoreUnavailable(
                    f"{self._where} did not confirm a subscription within {self._timeout} s"
                ) from exc
        return heard

    def forget(self, channel: str, heard: Listener) -> None:
        waiters = self._waiters.get(channel)
        if waiters is not None:
            waiters.discard(heard)
            if not waiters:
                del self._waiters[channel]

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _subscribe_for_good(self) -> None:
        backoff = Backoff(first=0.05, maximum=max(self._timeout, 0.05))
        while True:
            pubsub = self._client.pubsub()
            try:
                await pubsub.psubscribe(self._pattern)
                confirmation = await pubsub.get_message(timeout=self._timeout)
                if confirmation is None or confirmation["type"] != "psubscribe":
                    raise TimeoutError(f"no confirmation within {self._timeout} s")
                self._failure = None
                backoff.reset()
                self._subscribed.set()
                self._attempted.set()
                while True:
                    # An explicit timeout replaces the socket timeout: a quiet channel is no error.
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=self._timeout)
                    if message is not None:
                        self._wake(message["channel"], message["data"])
            except (RedisError, OSError) as exc:  # TimeoutError is an OSError
                log.warning("the completions subscription failed (%r); subscribing again", exc)
                self._failure = exc
                self._attempted.set()
            finally:
                self._subscribed.clear()
                # Shielded, and without I/O (it drops the connection): a cancel cannot leak it.
                await asyncio.shield(pubsub.aclose())  # type: ignore[no-untyped-call]
            await asyncio.sleep(backoff.next())
            self._attempted.clear()

    def _wake(self, channel: bytes | str, data: bytes | str) -> None:
        # Every process hears every request's changes: one no waiter here listens to costs no more.
        waiters = self._waiters.get(channel.decode() if isinstance(channel, bytes) else channel)
        if waiters:
            payload = data.decode() if isinstance(data, bytes) else str(data)
            for heard in waiters:
                heard.hear(payload)


class RedisPerLoop:
    """One client, and one `Completions` on it, per running event loop, made on first use and
    closed as its loop shuts down.

    A redis.asyncio client and its pool belong to the loop they first ran on; using them from
    another loop fails ("attached to a different loop"). Production runs one loop; the tests
    also call from successive asyncio.run() loops and from other threads' loops.
    """

    def __init__(self, make: Callable[[], Redis], pattern: str, timeout: float, where: str) -> None:
        self._make, self._pattern, self._timeout, self._where = make, pattern, timeout, where
        self._lock = threading.Lock()  # loops in other threads use the same store
        self._resources: dict[asyncio.AbstractEventLoop, _Resources] = {}

    async def client(self) -> Redis:
        return (await self._get()).client

    async def completions(self) -> Completions:
        return (await self._get()).completions

    async def coalesced(self) -> Coalesced:
        """This loop's commands that leave together (see `coalesced`), on its client."""
        return (await self._get()).coalesced

    async def aclose(self) -> None:
        current = asyncio.get_running_loop()
        with self._lock:
            closers = [(loop, resources.closer) for loop, resources in self._resources.items()]
            self._resources.clear()
        for loop, closer in closers:
            if loop is current:
                await closer.aclose()
            elif loop.is_running():  # a client closes on its own loop
                asyncio.run_coroutine_threadsafe(closer.aclose(), loop)

    async def _get(self) -> _Resources:
        loop = asyncio.get_running_loop()
        with self._lock:
            if loop in self._resources:
                return self._resources[loop]
            # A loop closed without shutdown_asyncgens() left its client open, and nothing can run
            # on it any more: drop it (the entry would keep the loop alive), collection closes it.
            for finished in [known for known in self._resources if known.is_closed()]:
                del self._resources[finished]
            client = self._make()
            completions = Completions(client, self._pattern, self._timeout, self._where)
            closer = _closed_at_loop_shutdown(client, completions)
            resources = _Resources(client, completions, Coalesced(client), closer)
            self._resources[loop] = resources
        # Started, the generator is tracked by the loop: asyncio.run() (any shutdown_asyncgens())
        # finalizes it at the end, closing the client on its own loop before the loop closes.
        await anext(resources.closer)
        return resources


@contextlib.asynccontextmanager
async def reaching_redis(where: str, action: str) -> AsyncIterator[None]:
    """Turns any redis or socket error into StoreUnavailable naming `where` and `action`: no
    redis exception leaves this package."""
    try:
        yield
    except (RedisError, OSError) as exc:  # TimeoutError is an OSError
        raise StoreUnavailable(f"{where} is unavailable ({action}: {exc})") from exc


@dataclass(frozen=True)
class _Resources:
    client: Redis
    completions: Completions
    coalesced: Coalesced
    closer: AsyncGenerator[None, None]


async def _closed_at_loop_shutdown(client: Redis, completions: Completions) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await completions.close()
        with contextlib.suppress(RedisError, OSError):
            await client.aclose()
