"""Request records in Redis: one JSON key per request with a time-to-live, a long-poll over pub/sub,
and the webhook outbox's entries written with the results (the outbox itself: `webhook_outbox`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from adapters.redis.coalesced import Coalesced
from adapters.redis.codec import decode_record, encode_record
from adapters.redis.connections import RedisPerLoop, reaching_redis
from adapters.redis.listener import Listener
from adapters.redis.pool import WaitingConnectionPool
from adapters.redis.record_transitions import RecordTransitions
from adapters.redis.waiting import Slices, any_news, follow, terminal_news, wait_on
from inference.domain import RequestId, RequestRecord
from inference.errors import InvalidTransition, UnknownRequest
from inference.ports import ResultStore, TerminalWatch
from inference.transitions import Transition


class RedisResultStore(ResultStore):
    """Records live under `{key_prefix}request:{id}` as JSON (see `record_codec`), `ttl` seconds
    from their last write.

    Every command waits at most `timeout` seconds (connecting included) and is not retried, so a
    dead or frozen Redis gives StoreUnavailable within about `timeout`; a long-poll whose Redis
    dies or freezes mid-wait also ends with StoreUnavailable, within about 1.5 times `timeout`, since
    the record as last read may no longer be the truth. No redis exception leaves this class.

    A redis.asyncio client belongs to the event loop it first ran on, so there is one client per
    running loop, made on first use (production has one loop, hence one client and one pool).
    """

    def __init__(
        self,
        url: str,
        ttl: float,
        key_prefix: str,
        timeout: float,
        max_connections: int = 64,
    ) -> None:
        self._ttl_ms = max(1, round(ttl * 1000))
        self._prefix = key_prefix
        self._timeout = timeout
        # How long a long-poll listens before it reads the record again (see wait_for_terminal).
        self._recheck = max(timeout / 2, 0.05)
        parts = urlsplit(url)  # where, for error messages, without any password in the URL
        self._where = f"Redis at {parts.hostname}:{parts.port or 6379}"
        self._clients = RedisPerLoop(
            lambda: Redis.from_pool(  # the client owns the pool: closing it closes the pool
                WaitingConnectionPool.from_url(
                    url,
                    socket_timeout=timeout,
                    socket_connect_timeout=timeout,
                    # No retries: each would wait `timeout` again on a frozen server. The pool still
                    # replaces a connection it finds broken before sending a command on it.
                    retry=Retry(NoBackoff(), 0),
                    # A burst waits for a free connection (up to `timeout`) instead of failing at
                    # once with "Too many connections", as redis-py's default pool does past 100
                    # (as redis-py's BlockingConnectionPool, at a sixth less CPU per command).
                    max_connections=max_connections,
                    timeout=timeout,
                )
            ),
            pattern=f"{key_prefix}changed:*",
            timeout=timeout,
            where=self._where,
        )
        self._transitions = RecordTransitions(self._key, self._channel, self.outbox_key, self._ttl_ms)

    async def add(self, record: RequestRecord) -> bool:
        async with reaching_redis(self._where, "add"):
            # Coalesced: the submissions of one loop step write their records in one pipeline.
            commands = await self._clients.coalesced()
            created = await commands.execute(
                "SET", self._key(record.request_id), encode_record(record), "PX", self._ttl_ms, "NX"
            )
        return bool(created)

    async def get(self, request_id: RequestId) -> RequestRecord:
        async with reaching_redis(self._where, "get"):
            return await self._read(await self._clients.coalesced(), request_id)

    async def transition(
        self, transitions: Sequence[tuple[RequestId, Transition]]
    ) -> list[RequestRecord | InvalidTransition | UnknownRequest]:
        # Optimistic locking keeps the rules in one place, RequestRecord.apply: the records are
        # read, the rules applied here, and the new values written only where the old ones still
        # stand (`record_transitions`); a Lua script holding the rules would have to re-code the
        # state machine in another language and keep the two in step.
        if not transitions:
            return []
        async with reaching_redis(self._where, "transition"):
            return await self._transitions(await self._clients.client(), transitions)

    async def wait_for_terminal(self, request_id: RequestId, timeout: float) -> RequestRecord:
        # A long-poll reads the record again only on news of a terminal status (or a message it
        # cannot read): the processing that every request announces on the way is not its news.
        return await self._wait(
            request_id, timeout, lambda record: record.status.is_terminal, worth_reading=terminal_news
        )

    @contextlib.asynccontextmanager
    async def watch_terminal(self, request_id: RequestId) -> AsyncIterator[TerminalWatch]:
        channel = self._channel(request_id)
        async with reaching_redis(self._where, "watch"):
            commands, completions = await self._clients.coalesced(), await self._clients.completions()
            heard = await completions.listen(channel)
        try:
            yield _Watch(heard, lambda: self._read(commands, request_id), self._where, self._recheck)
        finally:
            completions.forget(channel, heard)

    async def wait_for_change(
        self, request_id: RequestId, seen: RequestRecord | None, timeout: float
    ) -> RequestRecord:
        return await self._wait(request_id, timeout, lambda record: record != seen)

    async def _wait(
        self,
        request_id: RequestId,
        timeout: float,
        done: Callable[[RequestRecord], bool],
        worth_reading: Callable[[str], bool] = any_news,
    ) -> RequestRecord:
        async with reaching_redis(self._where, "wait"):
            commands, completions = await self._clients.coalesced(), await self._clients.completions()
            return await wait_on(
                completions,
                self._channel(request_id),
                lambda: self._read(commands, request_id),
                Slices(timeout, self._recheck),
                done,
                worth_reading,
            )

    async def delete(self, request_id: RequestId) -> None:
        async with reaching_redis(self._where, "delete"):
            await (await self._clients.client()).delete(self._key(request_id))

    async def ping(self) -> None:
        async with reaching_redis(self._where, "ping"):
            await (await self._clients.client()).ping()

    async def client(self) -> Redis:
        """This event loop's client, for the package's other adapters to share the store's pool."""
        return await self._clients.client()

    @property
    def where(self) -> str:
        """The server, for error messages (no password)."""
        return self._where

    async def aclose(self) -> None:
        """Close the clients; the store makes new ones if it is used again."""
        await self._clients.aclose()

    async def _read(self, commands: Coalesced, request_id: RequestId) -> RequestRecord:
        return _decoded(request_id, await commands.execute("GET", self._key(request_id)))

    @property
    def outbox_key(self) -> str:
        """The sorted set of due webhooks: request ids scored by when each is due (epoch seconds)."""
        return f"{self._prefix}webhooks:due"

    def key(self, request_id: RequestId) -> str:
        return self._key(request_id)

    def reaching_redis(self, action: str) -> contextlib.AbstractAsyncContextManager[None]:
        """Turns any redis or socket error into StoreUnavailable, naming `action`."""
        return reaching_redis(self._where, action)

    def _key(self, request_id: RequestId) -> str:
        return f"{self._prefix}request:{request_id}"

    def _channel(self, request_id: RequestId) -> str:
        # One channel per request, all matching the pattern each process subscribes to once (see
        # redis_connections). Pub/sub ignores the database number: the prefix scopes channels.
        return f"{self._prefix}changed:{request_id}"


def _decoded(request_id: RequestId, data: bytes | str | None) -> RequestRecord:
    if data is None:
        raise UnknownRequest(f"no request {request_id} (unknown, or its result expired)")
    return decode_record(data)


class _Watch(TerminalWatch):
    def __init__(
        self, heard: Listener, read: Callable[[], Awaitable[RequestRecord]], where: str, recheck: float
    ) -> None:
        self._heard, self._read, self._where, self._recheck = heard, read, where, recheck

    async def terminal_within(self, timeout: float) -> RequestRecord | None:
        async with reaching_redis(self._where, "wait"):
            record = await follow(
                self._heard,
                None,  # heard since before the record was added: nothing to read first
                self._read,
                Slices(timeout, self._recheck),
                lambda record: record.status.is_terminal,
                terminal_news,
            )
        return record if record is not None and record.status.is_terminal else None
