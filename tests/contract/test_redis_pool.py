"""The result store's connection pool against a real Redis: a burst waits for a free connection,
a wait that outlasts the timeout fails, and a connection the server dropped is made again."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError

from adapters.redis.pool import WaitingConnectionPool
from tests.servers import REDIS_URL, require_server

pytestmark = pytest.mark.server

HANG = 30.0  # far past any timeout here: only a hang reaches it


def _client(max_connections: int, timeout: float = 5.0) -> tuple[Redis, WaitingConnectionPool]:
    pool = WaitingConnectionPool.from_url(
        REDIS_URL, max_connections=max_connections, timeout=timeout, socket_timeout=5.0
    )
    return Redis.from_pool(pool), pool


def test_a_burst_of_more_commands_than_connections_waits_for_free_ones(prefix: str) -> None:
    async def burst() -> tuple[list[bool | str | bytes | None], int]:
        client, pool = _client(max_connections=2)
        try:
            done = await asyncio.gather(*(client.set(f"{prefix}{n}", n) for n in range(50)))
            return done, len(pool._available_connections) + len(pool._in_use_connections)
        finally:
            await client.aclose()

    done, connections = asyncio.run(asyncio.wait_for(burst(), HANG))

    assert done == [True] * 50
    assert connections <= 2


def test_a_checkout_that_waits_longer_than_the_timeout_fails() -> None:
    require_server("Redis", REDIS_URL)

    async def starve() -> tuple[type[BaseException] | None, bool]:
        client, pool = _client(max_connections=1, timeout=0.2)
        held = await pool.get_connection()
        try:
            try:
                await pool.get_connection()
                refused: type[BaseException] | None = None
            except ConnectionError as exc:
                refused = type(exc)
        finally:
            await pool.release(held)
        served = await client.ping()  # the refused waiter took no connection with it
        await client.aclose()
        return refused, served

    assert asyncio.run(asyncio.wait_for(starve(), HANG)) == (ConnectionError, True)


def test_a_cancelled_wait_leaves_the_pool_whole() -> None:
    require_server("Redis", REDIS_URL)

    async def cancel_a_waiter() -> bool:
        client, pool = _client(max_connections=1)
        held = await pool.get_connection()
        waiter = asyncio.ensure_future(pool.get_connection())
        await asyncio.sleep(0.05)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        await pool.release(held)
        served = bool(await client.ping())
        await client.aclose()
        return served

    assert asyncio.run(asyncio.wait_for(cancel_a_waiter(), HANG))


def test_a_connection_the_server_dropped_is_made_again_before_a_command_is_sent(prefix: str) -> None:
    async def drop_and_use() -> tuple[object, bool]:
        client, pool = _client(max_connections=1)
        try:
            await client.set(f"{prefix}before", 1)
            [idle] = pool._available_connections
            idle_id = await _client_id(pool, idle)
            async with Redis.from_url(REDIS_URL) as admin:
                await admin.client_kill_filter(_id=str(idle_id))
            await asyncio.sleep(0.1)  # the loop hears the EOF
            stored = await client.set(f"{prefix}after", 2)  # no retries: a stale socket would fail
            return stored, await _client_id(pool, pool._available_connections[0]) != idle_id
        finally:
            await client.aclose()

    assert asyncio.run(asyncio.wait_for(drop_and_use(), HANG)) == (True, True)


async def _client_id(pool: WaitingConnectionPool, connection: AbstractConnection) -> int:
    checked_out = await pool.get_connection()
    assert checked_out is connection
    try:
        await checked_out.send_command("CLIENT", "ID")
        return int(await checked_out.read_response())
    finally:
        await pool.release(checked_out)
