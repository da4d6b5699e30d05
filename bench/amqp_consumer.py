"""A worker's consumer, two ways: what pika costs per message on its own thread or on the loop.

    uv run python -m bench.amqp_consumer [--messages 8000] [--rounds 2] [--bytes 27000] [--batch 4]

The worker's consumer as it was: a pika `BlockingConnection` on a thread of its own hands each
batch to the asyncio loop (`call_soon_threadsafe`) and takes the batch's acknowledgement back
(`add_callback_threadsafe`, one `basic_ack(multiple=True)`). As it is now (for the requests; the
dead letters stay on the thread), and as the API's publisher is: pika's `AsyncioConnection` on the
loop itself, no thread and no hand-offs (`adapters/rabbitmq/deliveries.py`).
Both consume the same persistent messages from a quorum queue (as the service's, with a delivery
limit) in batches, and do no other work; this process's CPU per message is printed for each, in
alternating rounds. Runs on the test RabbitMQ (INFERENCE_TEST_RABBITMQ_URL or the local one), on a
queue of its own that it deletes at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import pika
import uvloop
from pika.adapters.asyncio_connection import AsyncioConnection
from pika.channel import Channel
from pika.spec import Basic, BasicProperties

from tests.servers import RABBITMQ_URL

Design = Callable[[pika.URLParameters, str, int, int], Coroutine[Any, Any, None]]


def fill(parameters: pika.URLParameters, queue: str, messages: int, size: int) -> None:
    connection = pika.BlockingConnection(parameters)
    channel = connection.channel()
    channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum", "x-delivery-limit": 3})
    body = os.urandom(size)
    for _ in range(messages):
        channel.basic_publish("", queue, body, BasicProperties(delivery_mode=2))
    while channel.queue_declare(queue, passive=True).method.message_count < messages:
        time.sleep(0.05)  # a quorum queue counts a message once its log has it
    connection.close()


async def on_a_thread(parameters: pika.URLParameters, queue: str, messages: int, batch: int) -> None:
    loop, done = asyncio.get_running_loop(), asyncio.Event()
    connection = pika.BlockingConnection(parameters)
    channel = connection.channel()
    channel.basic_qos(prefetch_count=2 * batch)
    held: list[int] = []
    taken = 0
    stopping = threading.Event()

    def take(tags: list[int]) -> None:  # on the loop, as the worker's batch step
        nonlocal taken
        connection.add_callback_threadsafe(lambda: channel.basic_ack(tags[-1], multiple=True))
        taken += len(tags)
        if taken >= messages:
            done.set()

    def arrived(_: Any, method: Basic.Deliver, __: BasicProperties, ___: bytes) -> None:
        held.append(method.delivery_tag)
        if len(held) >= batch:
            loop.call_soon_threadsafe(take, held[:])
            held.clear()

    def serve() -> None:
        while not stopping.is_set():
            connection.process_data_events(time_limit=0.2)
        connection.close()

    channel.basic_consume(queue, arrived)
    thread = threading.Thread(target=serve, name="amqp")
    thread.start()
    await done.wait()
    stopping.set()
    await asyncio.to_thread(thread.join)


async def on_the_loop(parameters: pika.URLParameters, queue: str, messages: int, batch: int) -> None:
    loop, done = asyncio.get_running_loop(), asyncio.Event()
    opened: asyncio.Future[AsyncioConnection] = loop.create_future()
    connection = AsyncioConnection(parameters, on_open_callback=opened.set_result, custom_ioloop=loop)
    await opened
    channel_opened: asyncio.Future[Channel] = loop.create_future()
    connection.channel(on_open_callback=channel_opened.set_result)
    channel = await channel_opened
    qos: asyncio.Future[None] = loop.create_future()
    channel.basic_qos(prefetch_count=2 * batch, callback=lambda _: qos.set_result(None))
    await qos
    held: list[int] = []
    taken = 0

    def take(tags: list[int]) -> None:
        nonlocal taken
        channel.basic_ack(tags[-1], multiple=True)
        taken += len(tags)
        if taken >= messages:
            done.set()

    def arrived(_: Channel, method: Basic.Deliver, __: BasicProperties, ___: bytes) -> None:
        held.append(method.delivery_tag)
        if len(held) >= batch:
            loop.call_soon(take, held[:])
            held.clear()

    channel.basic_consume(queue, arrived)
    await done.wait()
    closed: asyncio.Future[None] = loop.create_future()
    connection.add_on_close_callback(lambda *_: closed.set_result(None))
    connection.close()
    await closed


def cpu_per_message(design: Design, parameters: pika.URLParameters, args: argparse.Namespace) -> float:
    queue = f"bench.amqp_consumer.{uuid.uuid4().hex[:8]}"
    try:
        fill(parameters, queue, args.messages, args.bytes)
        began = time.process_time()
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:  # as the worker runs
            runner.run(design(parameters, queue, args.messages, args.batch))
        messages: int = args.messages
        return 1e6 * (time.process_time() - began) / messages
    finally:
        connection = pika.BlockingConnection(parameters)
        connection.channel().queue_delete(queue)
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=8000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--bytes", type=int, default=27_000, help="body size (a 640x480 JPEG: ~27 KB)")
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args()
    parameters = pika.URLParameters(RABBITMQ_URL)
    designs: dict[str, Design] = {"own thread": on_a_thread, "on the loop": on_the_loop}
    figures: dict[str, list[float]] = {name: [] for name in designs}
    for _ in range(args.rounds):
        for name, design in designs.items():
            figures[name].append(cpu_per_message(design, parameters, args))
            print(f"  {name:12} {figures[name][-1]:6.0f} µs CPU per message", flush=True)
    thread, loop = (statistics.median(figures[name]) for name in designs)
    print(
        f"pika consumer, {args.bytes} B messages in batches of {args.batch}: own thread {thread:.0f} µs, "
        f"on the loop {loop:.0f} µs per message (medians of {args.rounds}): {thread / loop:.2f}×"
    )


if __name__ == "__main__":
    main()
