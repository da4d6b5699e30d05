"""A response's head goes to the socket with its body's first part, and never waits longer than
the event loop's current step (so a stream still shows its head at once)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

from entrypoints.http.joined_writes import JoinedWrites


class Socket:
    """A transport that records what reaches it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", bytes(data)))

    def writelines(self, parts: Any) -> None:
        self.calls.append(("writelines", b"".join(parts)))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True
        self.calls.append(("close", b""))

    def get_extra_info(self, name: str) -> str:
        return f"info {name}"


class Cycle:
    """What JoinedWrites reads of uvicorn's request/response cycle; the cycle holds its transport."""

    def __init__(self) -> None:
        self.response_started = False
        self.transport: JoinedWrites | None = None


def joined() -> tuple[JoinedWrites, Socket, Cycle]:
    socket, cycle = Socket(), Cycle()
    cycle.transport = JoinedWrites(socket, cycle, asyncio.get_running_loop())  # type: ignore[arg-type]
    return cycle.transport, socket, cycle


def test_a_head_and_a_body_written_in_one_step_reach_the_socket_in_one_call() -> None:
    asyncio.run(_a_head_and_a_body_written_in_one_step_reach_the_socket_in_one_call())


async def _a_head_and_a_body_written_in_one_step_reach_the_socket_in_one_call() -> None:
    transport, socket, cycle = joined()

    cycle.response_started = True
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(b"{}")
    await asyncio.sleep(0)

    assert socket.calls == [("writelines", b"HTTP/1.1 200 OK\r\n\r\n{}")]


def test_a_head_whose_body_comes_later_is_written_at_the_end_of_the_step() -> None:
    asyncio.run(_a_head_whose_body_comes_later_is_written_at_the_end_of_the_step())


async def _a_head_whose_body_comes_later_is_written_at_the_end_of_the_step() -> None:
    transport, socket, cycle = joined()

    cycle.response_started = True
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert socket.calls == []
    await asyncio.sleep(0)
    assert socket.calls == [("write", b"HTTP/1.1 200 OK\r\n\r\n")]

    transport.write(b"data: 1\n\n")
    assert socket.calls[1:] == [("write", b"data: 1\n\n")]


def test_a_100_continue_before_the_response_is_written_at_once() -> None:
    asyncio.run(_a_100_continue_before_the_response_is_written_at_once())


async def _a_100_continue_before_the_response_is_written_at_once() -> None:
    transport, socket, _ = joined()

    transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    assert socket.calls == [("write", b"HTTP/1.1 100 Continue\r\n\r\n")]


def test_closing_writes_a_held_head_first_and_a_closed_socket_gets_nothing_later() -> None:
    asyncio.run(_closing_writes_a_held_head_first_and_a_closed_socket_gets_nothing_later())


async def _closing_writes_a_held_head_first_and_a_closed_socket_gets_nothing_later() -> None:
    transport, socket, cycle = joined()
    cycle.response_started = True
    transport.write(b"HTTP/1.1 500 Internal Server Error\r\n\r\n")

    transport.close()
    await asyncio.sleep(0)

    assert socket.calls == [("write", b"HTTP/1.1 500 Internal Server Error\r\n\r\n"), ("close", b"")]
    assert transport.get_extra_info("peername") == "info peername"


def test_a_finished_cycle_is_freed_by_its_reference_count_not_left_to_the_collector() -> None:
    asyncio.run(_a_finished_cycle_is_freed_by_its_reference_count_not_left_to_the_collector())


async def _a_finished_cycle_is_freed_by_its_reference_count_not_left_to_the_collector() -> None:
    # A cycle holds the request's body (megabytes for an image): in a reference cycle with its
    # transport it outlived the response until a collection (tests/e2e/test_upload_memory.py).
    gc.disable()
    try:
        for body_in_the_same_step in (True, False):
            transport, _, cycle = joined()
            cycle.response_started = True
            transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
            if not body_in_the_same_step:
                await asyncio.sleep(0)
            transport.write(b"{}")
            await asyncio.sleep(0)
            gone = weakref.ref(cycle)
            del transport, cycle

            assert gone() is None
    finally:
        gc.enable()
