"""The API's publisher runs its connection on the event loop that publishes: what that means when
the loop changes and when the API's lifespan ends."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pika
import pytest
from pika.exceptions import ConnectionClosedByClient

from adapters.rabbitmq.confirming import AmqpPublisher
from entrypoints.container import create_container, start_adapters, stop_adapters
from entrypoints.settings import QueueSettings, Settings
from tests.queues import RabbitMQQueue
from tests.servers import RABBITMQ_URL, REDIS_URL, require_server
from tests.stubs import a_request

pytestmark = pytest.mark.server


@pytest.fixture
def name() -> Iterator[str]:
    require_server("RabbitMQ", RABBITMQ_URL)
    name = f"test.rabbitmq.{uuid.uuid4().hex}"
    yield name
    with pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL)) as connection:
        connection.channel().queue_delete(name)
        connection.channel().queue_delete(f"{name}.dead")


def test_publishes_from_successive_event_loops_each_get_a_connection_of_their_loop(name: str) -> None:
    queue = RabbitMQQueue(RABBITMQ_URL, name, client_name="test-publisher-loops")
    queue.start(wait=10.0)
    try:
        first, second = a_request(), a_request()
        asyncio.run(queue.publish(first))  # a loop that closes when the call returns
        earlier = queue.publisher._publishers._current
        assert earlier is not None and earlier._connection is not None
        sock = earlier._connection._transport._sock

        asyncio.run(queue.publish(second))  # not refused for a connection on a closed loop

        assert queue.publisher._publishers._current is not earlier
        assert sock.fileno() == -1  # the closed loop's connection does not linger
        ids = asyncio.run(_receive_ids(queue, 2))
        assert ids == {first.id, second.id}
    finally:
        queue.shutdown()


def test_the_publisher_runs_on_uvloop_as_in_the_api(name: str) -> None:
    uvloop = pytest.importorskip("uvloop")  # uvicorn's choice wherever it is installed
    queue = RabbitMQQueue(RABBITMQ_URL, name, client_name="test-publisher-uvloop")
    queue.start(wait=10.0)
    requests = [a_request() for _ in range(20)]

    async def scenario() -> set[Any]:
        assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
        await asyncio.gather(*(queue.publish(request) for request in requests))
        await queue.publisher.aclose()
        return await _receive_ids(queue, len(requests))

    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            assert runner.run(scenario()) == {request.id for request in requests}
    finally:
        queue.shutdown()


def test_the_apis_shutdown_closes_the_publishing_connection_on_its_loop_with_the_brokers_close_ok(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_server("Redis", REDIS_URL)
    closed: list[BaseException | str] = []
    on_lost = AmqpPublisher._on_lost

    def recorded(self: AmqpPublisher, connection: Any, reason: BaseException | str) -> None:
        closed.append(reason)
        on_lost(self, connection, reason)

    monkeypatch.setattr(AmqpPublisher, "_on_lost", recorded)
    settings = Settings(
        mode="distributed", rabbitmq_url=RABBITMQ_URL, redis_url=REDIS_URL, queue=QueueSettings(name=name)
    )

    async def lifespan() -> None:
        container = create_container(settings)
        await start_adapters(container, "api")
        try:
            await container.publisher().publish(a_request())
        finally:
            await stop_adapters(container)
        # Closed by then, the broker's close-ok read: not left to a loop that is about to end.
        assert len(closed) == 1 and isinstance(closed[0], ConnectionClosedByClient), closed

    asyncio.run(lifespan())


async def _receive_ids(queue: RabbitMQQueue, count: int) -> set[Any]:
    """The ids of `count` messages received and acknowledged (or of those that came within 10 s)."""
    seen: set[Any] = set()
    deadline = time.monotonic() + 10.0
    while len(seen) < count and (remaining := deadline - time.monotonic()) > 0:
        for delivery in await queue.receive(max_count=count, fill_wait=0.0, idle_wait=remaining):
            await queue.ack(delivery)
            seen.add(delivery.request.id)
    return seen
