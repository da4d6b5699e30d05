"""Commands of one loop step leave together, against a real Redis: one pipeline for the step,
each caller its own reply or error, and a failure of the connection every caller's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError, ResponseError

from adapters.redis.coalesced import Coalesced
from adapters.redis.pool import WaitingConnectionPool
from adapters.redis.result_store import RedisResultStore
from tests.queues import redis_store
from tests.servers import REDIS_URL
from tests.stubs import a_record

pytestmark = pytest.mark.server


@asynccontextmanager
async def counted(url: str = REDIS_URL) -> AsyncIterator[tuple[Coalesced, list[int]]]:
    """A Coalesced over a client whose pipelines are counted, by the commands each sent."""
    client = Redis.from_pool(
        WaitingConnectionPool.from_url(url, max_connections=4, timeout=2.0, socket_timeout=2.0)
    )
    sizes: list[int] = []
    make_pipeline = client.pipeline

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        made = make_pipeline(*args, **kwargs)
        execute = made.execute

        async def counted_execute(*args: Any, **kwargs: Any) -> Any:
            sizes.append(len(made.command_stack))
            return await execute(*args, **kwargs)

        made.execute = counted_execute  # type: ignore[method-assign]
        return made

    client.pipeline = pipeline  # type: ignore[method-assign]
    try:
        yield Coalesced(client), sizes
    finally:
        await client.aclose()


def test_the_commands_of_one_loop_step_leave_in_one_pipeline_each_with_its_reply(prefix: str) -> None:
    async def scenario() -> tuple[list[Any], list[int]]:
        async with counted() as (commands, sizes):
            await commands.execute("SET", f"{prefix}taken", "first")
            replies = await asyncio.gather(
                *(commands.execute("SET", f"{prefix}{n}", n, "PX", 60_000, "NX") for n in range(20)),
                commands.execute("SET", f"{prefix}taken", "second", "PX", 60_000, "NX"),
                commands.execute("GET", f"{prefix}taken"),
            )
            return replies, sizes

    replies, sizes = asyncio.run(scenario())

    assert replies == [True] * 20 + [None, b"first"]  # NX refused where the key was taken
    assert sizes == [22]  # the lone first SET went as itself, the step's 22 together


def test_a_commands_own_error_is_its_callers_alone(prefix: str) -> None:
    async def scenario() -> tuple[list[Any], list[int]]:
        async with counted() as (commands, sizes):
            await commands.execute("SET", f"{prefix}word", "not a number")
            replies = await asyncio.gather(
                commands.execute("SET", f"{prefix}a", 1),
                commands.execute("INCR", f"{prefix}word"),
                commands.execute("GET", f"{prefix}a"),
                return_exceptions=True,
            )
            return list(replies), sizes

    replies, sizes = asyncio.run(scenario())

    assert replies[0] is True and replies[2] == b"1"
    assert isinstance(replies[1], ResponseError)
    assert sizes == [3]


def test_a_connection_that_fails_fails_every_command_of_the_step() -> None:
    async def scenario() -> list[Any]:
        async with counted("redis://127.0.0.1:1") as (commands, _):  # nothing listens there
            return await asyncio.gather(
                *(commands.execute("GET", f"k{n}") for n in range(5)), return_exceptions=True
            )

    replies = asyncio.run(scenario())

    assert all(isinstance(reply, ConnectionError) for reply in replies), replies


def test_a_caller_that_stops_waiting_leaves_the_others_their_replies(prefix: str) -> None:
    async def scenario() -> tuple[list[Any], bytes | None]:
        async with counted() as (commands, _):
            callers = [asyncio.ensure_future(commands.execute("SET", f"{prefix}{n}", n)) for n in range(3)]
            await asyncio.sleep(0)  # each has handed its command over and waits for the reply
            callers[1].cancel()
            replies = list(await asyncio.gather(*callers, return_exceptions=True))
            return replies, await commands.execute("GET", f"{prefix}1")

    replies, written = asyncio.run(scenario())

    assert replies[0] is True and replies[2] is True
    assert isinstance(replies[1], asyncio.CancelledError)
    assert written == b"1"  # its command went all the same, as one already sent would have


def test_a_burst_of_submissions_writes_its_records_in_one_round_trip(prefix: str) -> None:
    store: RedisResultStore = redis_store(REDIS_URL, ttl=60.0, key_prefix=prefix)
    records = [a_record() for _ in range(10)]

    async def scenario() -> list[bool]:
        try:
            commands = await store._clients.coalesced()
            sent: list[int] = []
            run = commands._run

            async def counting(batch: Any) -> None:
                sent.append(len(batch))
                await run(batch)

            commands._run = counting  # type: ignore[method-assign]
            added = await asyncio.gather(*(store.add(record) for record in records))
            read = await asyncio.gather(*(store.get(record.request_id) for record in records))
            assert read == records
            assert sent == [10, 10]  # the adds together, then the reads together
            return list(added)
        finally:
            await store.aclose()

    assert asyncio.run(scenario()) == [True] * 10
