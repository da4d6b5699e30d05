"""What only the RabbitMQ queue promises: its messages on the wire, its topology, and how it fails
and recovers.

The contract (tests/contract) covers the port's semantics. Here: a request travels as a persistent
message whose body is the image and whose metadata are plain AMQP properties and headers, in a
durable quorum queue with a delivery limit, a bound and a dead-letter queue; whatever does not read
as a request is dead-lettered, never handed out; a dead, restarted, blocked or idle broker gives
QueueUnavailable within the timeout and the same client carries on once it is back; and seconds of
work on the consumer's thread do not starve the connection's heartbeats.
"""

from __future__ import annotations

import asyncio
import pickle
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pika
import pika.exceptions
import pytest
from pika.adapters.utils.io_services_utils import _AsyncTransportBase

from inference.domain import InferenceRequest, RequestId
from inference.errors import QueueUnavailable
from inference.ports import DeadLetter
from tests.harness import free_port
from tests.images import jpeg_bytes, png_bytes
from tests.queues import Queue, RabbitMQQueue
from tests.servers import RABBITMQ_URL, require_server
from tests.servers.rabbitmq import QUORUM_QUEUE_SETTLE_SECONDS, PrivateRabbitMQ, private_rabbitmq
from tests.stubs import a_request

pytestmark = pytest.mark.server

TIMEOUT = 2.0  # the adapter's timeout in the fault tests
MARGIN = 2.0  # what a busy machine may add to it
PROMPT = 5.0  # a broker's message reaches a consumer well within this
RECOVERY = 30.0  # a client finds a broker that came back within this (its backoff tops out at 5 s)
HEARTBEAT = 2  # seconds: a peer that hears nothing for two of these drops the connection
IDLE = 7.0  # more than three heartbeat intervals

OpenQueue = Callable[..., RabbitMQQueue]


def fresh_name() -> str:
    return f"test.rabbitmq.{uuid.uuid4().hex}"


def with_heartbeat(url: str, seconds: int) -> str:
    return f"{url}{'&' if '?' in url else '?'}heartbeat={seconds}"


@pytest.fixture(scope="module")
def node() -> Iterator[PrivateRabbitMQ]:
    # One private node for the module, to stop and block: booting one costs seconds of CPU.
    with private_rabbitmq() as server:
        yield server


@pytest.fixture
def name() -> Iterator[str]:
    """A queue on the shared broker, deleted (with its dead-letter queue) afterwards."""
    require_server("RabbitMQ", RABBITMQ_URL)
    name = fresh_name()
    yield name
    with pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL)) as connection:
        channel = connection.channel()
        channel.queue_delete(name)
        channel.queue_delete(f"{name}.dead")


@pytest.fixture
def open_queue() -> Iterator[OpenQueue]:
    """Start RabbitMQQueue(url, name, **options), waiting up to `wait` s to connect; shut down after."""
    opened: list[RabbitMQQueue] = []

    def open_queue(url: str, name: str, wait: float = 10.0, **options: Any) -> RabbitMQQueue:
        queue = RabbitMQQueue(url, name, client_name="test-rabbitmq-queue", **options)
        opened.append(queue)
        queue.start(wait=wait)
        return queue

    yield open_queue
    for queue in opened:
        queue.shutdown()


async def receive_ids(queue: Queue, expected: set[RequestId], within: float) -> set[RequestId]:
    """Receive and acknowledge until every expected request came (or `within` s passed)."""
    seen: set[RequestId] = set()
    deadline = time.monotonic() + within
    while not expected <= seen and (remaining := deadline - time.monotonic()) > 0:
        for delivery in await queue.receive(max_count=10, fill_wait=0.0, idle_wait=remaining):
            await queue.ack(delivery)
            seen.add(delivery.request.id)
    return seen


async def dead_letters(queue: Queue, count: int, within: float = PROMPT) -> list[DeadLetter]:
    """Up to `count` dead letters, released for good, waiting up to `within` s for them all."""
    letters: list[DeadLetter] = []
    deadline = time.monotonic() + within
    while len(letters) < count and (remaining := deadline - time.monotonic()) > 0:
        batch = await queue.receive_dead_letters(max_count=count - len(letters), wait=remaining)
        for letter in batch:  # at once: the consumer holds no more than its prefetch unreleased
            await queue.release_dead_letter(letter, requeue=False)
        letters += batch
    return letters


async def publish_until_accepted(queue: Queue, within: float) -> None:
    """Publish a request, retrying while the broker is unavailable for up to `within` s."""
    request, deadline = a_request(), time.monotonic() + within
    while True:
        try:
            await queue.publish(request)
            return
        except QueueUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


# --- On the wire ---


def test_a_request_travels_as_a_persistent_message_whose_body_is_the_image_itself(
    name: str, open_queue: OpenQueue
) -> None:
    submitted_at = datetime(2024, 5, 6, 7, 8, 9, 123456, UTC)
    request = InferenceRequest(RequestId.new(), jpeg_bytes(), "image/jpeg", 7, submitted_at)
    asyncio.run(open_queue(RABBITMQ_URL, name).publish(request))

    with pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL)) as connection:
        method, properties, body = connection.channel().basic_get(name, auto_ack=True)

    assert method is not None, "the message is not in the queue"
    assert body == request.image  # the image as uploaded: no envelope, no pickle
    assert properties.delivery_mode == pika.DeliveryMode.Persistent.value
    assert properties.message_id == str(request.id)
    assert properties.content_type == "image/jpeg"
    assert properties.type == "inference.request"
    # The broker adds its own x- headers (x-delivery-count); the adapter's are these, all plain values.
    assert {key: value for key, value in properties.headers.items() if not key.startswith("x-")} == {
        "schema": 1,
        "top_k": 7,
        "submitted_at": "2024-05-06T07:08:09.123456+00:00",
    }


def test_the_queue_is_a_durable_quorum_queue_bounded_with_a_delivery_limit_and_a_dead_letter_queue(
    name: str, open_queue: OpenQueue
) -> None:
    open_queue(RABBITMQ_URL, name, max_length=50, max_attempts=2)
    declared = {
        "x-queue-type": "quorum",
        "x-delivery-limit": 2,  # counted in redeliveries: three deliveries at most
        "x-overflow": "reject-publish",
        "x-max-length": 49,  # a quorum queue refuses only once it is over this: it holds 50
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": f"{name}.dead",
        "x-dead-letter-strategy": "at-least-once",
    }

    # The broker accepts a declaration only if it is equivalent to the queue's own, and refuses one
    # that lacks any of these arguments: so the queue has exactly these.
    with pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL)) as connection:
        connection.channel().queue_declare(name, durable=True, arguments=declared)
        connection.channel().queue_declare(f"{name}.dead", durable=True, arguments={"x-queue-type": "quorum"})
        for key in declared:
            without = {k: v for k, v in declared.items() if k != key}
            with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
                connection.channel().queue_declare(name, durable=True, arguments=without)
            assert refused.value.reply_code == 406, key
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            connection.channel().queue_declare(name, durable=False, arguments=declared)
        assert refused.value.reply_code == 406
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            connection.channel().queue_declare(
                f"{name}.dead", durable=True, arguments={"x-queue-type": "classic"}
            )
        assert refused.value.reply_code == 406


# --- Messages that are not requests ---

_ID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
_HEADERS: dict[str, Any] = {"schema": 1, "top_k": 3, "submitted_at": "2024-05-06T07:08:09+00:00"}
_PNG = png_bytes()

# message_id, content_type, headers, body: each unreadable as a request in one way.
MALFORMED: dict[str, tuple[str | None, str, dict[str, Any] | None, bytes]] = {
    "a schema from the future": (_ID, "image/png", {**_HEADERS, "schema": 2}, _PNG),
    "a boolean schema": (_ID, "image/png", {**_HEADERS, "schema": True}, _PNG),
    "no headers at all": (_ID, "image/png", None, _PNG),
    "a message_id that is no UUID": ("request-1", "image/png", _HEADERS, _PNG),
    "a UUID not in canonical form": (f"{{{_ID}}}", "image/png", _HEADERS, _PNG),
    "no message_id": (None, "image/png", _HEADERS, _PNG),
    "top_k zero": (_ID, "image/png", {**_HEADERS, "top_k": 0}, _PNG),
    "top_k over the maximum": (_ID, "image/png", {**_HEADERS, "top_k": 1001}, _PNG),
    "a boolean top_k": (_ID, "image/png", {**_HEADERS, "top_k": True}, _PNG),
    "top_k as text": (_ID, "image/png", {**_HEADERS, "top_k": "3"}, _PNG),
    "submitted_at without a time zone": (
        _ID,
        "image/png",
        {**_HEADERS, "submitted_at": "2024-05-06T07:08"},
        _PNG,
    ),
    "a body that is no image": (_ID, "image/png", _HEADERS, b"just some text"),
    "a content_type that is not the body's": (_ID, "image/jpeg", _HEADERS, _PNG),
    "a pickled request": (
        _ID,
        "application/python-pickle",
        _HEADERS,
        pickle.dumps({"image": _PNG, "top_k": 3}),
    ),
}


def test_messages_that_are_not_requests_become_malformed_dead_letters_without_blocking_the_queue(
    name: str, open_queue: OpenQueue
) -> None:
    queue = open_queue(RABBITMQ_URL, name)
    with pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL)) as connection:
        channel = connection.channel()
        channel.confirm_delivery()  # and mandatory: each is in the queue before the adapter looks
        for message_id, content_type, headers, body in MALFORMED.values():
            properties = pika.BasicProperties(
                delivery_mode=2, message_id=message_id, content_type=content_type, headers=headers
            )
            channel.basic_publish("", name, body, properties, mandatory=True)
    after = a_request()

    async def scenario() -> list[DeadLetter]:
        await queue.publish(after)
        batch = await queue.receive(max_count=len(MALFORMED) + 1, fill_wait=1.0, idle_wait=PROMPT)
        assert [delivery.request.id for delivery in batch] == [after.id]
        return await dead_letters(queue, len(MALFORMED))

    letters = asyncio.run(scenario())

    # Each names its request when its message_id reads as one (here only _ID does), else none.
    expected = [RequestId.parse(_ID) if message_id == _ID else None for message_id, *_ in MALFORMED.values()]
    assert sorted(map(str, (letter.request_id for letter in letters))) == sorted(map(str, expected))
    assert {letter.failure.code for letter in letters} == {"malformed_message"}


# --- Redeliveries ---


def test_a_message_redelivered_past_the_delivery_limit_becomes_a_dead_letter_naming_its_request(
    name: str, open_queue: OpenQueue
) -> None:
    queue = open_queue(RABBITMQ_URL, name, max_attempts=2)
    request = a_request()

    async def scenario() -> None:
        await queue.publish(request)
        for attempt in (1, 2, 3):  # as the memory queue: `delivery_limit` deliveries, then dead
            [delivery] = await queue.receive(max_count=1, fill_wait=0.0, idle_wait=PROMPT)
            assert (delivery.request.id, delivery.attempt) == (request.id, attempt)
            await queue.reject(delivery, requeue=True)
        [letter] = await dead_letters(queue, 1)
        assert (letter.request_id, letter.failure.code) == (request.id, "delivery_limit_exceeded")
        assert "attempted 3 times" in letter.failure.message
        assert await queue.receive(max_count=1, fill_wait=0.0, idle_wait=0.3) == []

    asyncio.run(scenario())


# --- Failures and recovery ---


def test_with_no_broker_listening_publish_and_ping_fail_fast_as_queue_unavailable(
    open_queue: OpenQueue,
) -> None:
    queue = open_queue(f"amqp://guest:guest@127.0.0.1:{free_port()}/", fresh_name(), wait=0.5, timeout=5.0)

    started = time.monotonic()
    with pytest.raises(QueueUnavailable, match="unreachable"):
        asyncio.run(queue.publish(a_request()))
    with pytest.raises(QueueUnavailable):
        asyncio.run(queue.ping())
    assert time.monotonic() - started < 1.0  # not the 5 s timeout: nothing to wait for


def test_a_queue_deleted_behind_the_adapters_back_is_declared_again_by_the_next_publish(
    name: str, open_queue: OpenQueue
) -> None:
    queue = open_queue(RABBITMQ_URL, name)
    with pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL)) as connection:
        connection.channel().queue_delete(name)
    kept = a_request()

    async def scenario() -> None:
        with pytest.raises(QueueUnavailable, match="did not exist"):
            await queue.publish(a_request())  # unroutable: refused, not lost silently
        await queue.publish(kept)
        assert await receive_ids(queue, {kept.id}, PROMPT) == {kept.id}

    asyncio.run(scenario())


@pytest.mark.slow
def test_a_publisher_and_a_consumer_carry_on_after_a_broker_restart_without_being_rebuilt(
    node: PrivateRabbitMQ, open_queue: OpenQueue
) -> None:
    name = fresh_name()
    publisher = open_queue(node.url, name, timeout=TIMEOUT)
    consumer = open_queue(node.url, name, timeout=TIMEOUT)
    before, after = a_request(), a_request()

    async def publish_before() -> None:
        assert await consumer.receive(max_count=1, fill_wait=0.0, idle_wait=0.1) == []  # now consuming
        await publisher.publish(before)

    asyncio.run(publish_before())
    time.sleep(QUORUM_QUEUE_SETTLE_SECONDS)  # a quorum queue a moment old may not survive its node
    node.stop()
    try:
        started = time.monotonic()
        with pytest.raises(QueueUnavailable):
            asyncio.run(publisher.publish(a_request()))
        refused_after = time.monotonic() - started
    finally:
        node.start()  # whatever happened: the module's other tests need it
    assert refused_after < TIMEOUT + MARGIN

    async def after_the_restart() -> set[RequestId]:
        await publish_until_accepted(publisher, RECOVERY)
        await publisher.publish(after)
        return await receive_ids(consumer, {before.id, after.id}, RECOVERY)

    received = asyncio.run(after_the_restart())
    assert {before.id, after.id} <= received  # the message from before the restart outlived it


@pytest.mark.slow
def test_a_broker_that_blocks_publishers_gives_queue_unavailable_within_the_timeout_not_a_hang(
    node: PrivateRabbitMQ, open_queue: OpenQueue
) -> None:
    queue = open_queue(node.url, fresh_name(), timeout=TIMEOUT)
    asyncio.run(queue.publish(a_request()))

    def set_memory_watermark(fraction: str) -> None:
        result = node.rabbitmqctl("set_vm_memory_high_watermark", fraction)
        assert result.returncode == 0, result.stderr

    set_memory_watermark("0.000001")  # a memory alarm: the broker stops reading from publishers
    try:
        started = time.monotonic()
        with pytest.raises(QueueUnavailable):
            asyncio.run(queue.publish(a_request()))
        assert time.monotonic() - started < TIMEOUT + MARGIN
    finally:
        set_memory_watermark("0.4")
    asyncio.run(publish_until_accepted(queue, RECOVERY))


# --- Heartbeats ---


@pytest.mark.slow
def test_an_idle_connection_outlives_several_heartbeat_intervals(name: str, open_queue: OpenQueue) -> None:
    queue = open_queue(with_heartbeat(RABBITMQ_URL, HEARTBEAT), name)
    connection = queue._amqp._connection
    assert connection is not None
    assert connection._impl.params.heartbeat == HEARTBEAT  # negotiated as asked

    time.sleep(IDLE)
    asyncio.run(queue.publish(a_request()))

    assert queue._amqp._connection is connection, f"it reconnected after {queue._amqp.last_error}"


def _busy(seconds: float) -> None:
    """Pure Python for `seconds`: it holds the GIL but for the interpreter's switches, as the
    worker's model and decoding threads partly do."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sum(range(1000))


@pytest.mark.slow
def test_seconds_in_the_model_thread_do_not_starve_the_heartbeats_of_the_deliveries_connection(
    name: str, open_queue: OpenQueue
) -> None:
    # The deliveries arrive on the worker's loop, whose connection answers heartbeats only while
    # the loop runs: a batch spends its seconds in the model's thread, and the delivery it holds
    # unacknowledged meanwhile must still be there to acknowledge. Mutation: a connection that
    # sent no heartbeats (pika's heartbeat timer not on the running loop) is dropped by the
    # broker after two intervals, and the delivery goes to the other consumer below.
    consumer = open_queue(with_heartbeat(RABBITMQ_URL, HEARTBEAT), name)
    assert isinstance(consumer, RabbitMQQueue)

    async def scenario() -> None:
        await consumer.publish(a_request())
        [delivery] = await consumer.receive(max_count=1, fill_wait=0.0, idle_wait=PROMPT)
        deliveries = consumer.consumer._deliveries._current
        assert deliveries is not None
        connection = deliveries._connection
        assert connection is not None
        assert connection.params.heartbeat == HEARTBEAT  # negotiated as asked
        await asyncio.to_thread(_busy, IDLE)
        await consumer.ack(delivery)
        assert await consumer.receive(max_count=1, fill_wait=0.0, idle_wait=0.5) == []
        assert deliveries._connection is connection, f"it reconnected after {deliveries._last_error}"

    asyncio.run(scenario())
    consumer.shutdown()  # anything it had not really acknowledged would now go to another consumer
    other = open_queue(RABBITMQ_URL, name)
    assert asyncio.run(other.receive(max_count=1, fill_wait=0.0, idle_wait=1.0)) == []


def test_publishes_racing_to_be_first_all_wait_for_the_publishing_connection(
    name: str, open_queue: OpenQueue
) -> None:
    queue = open_queue(RABBITMQ_URL, name)
    requests = [a_request() for _ in range(50)]

    async def scenario() -> None:
        # The publishing connection opens with the first publish: the others must not find it
        # "not connected yet" and answer 503.
        await asyncio.gather(*(queue.publish(request) for request in requests))
        assert await receive_ids(queue, {r.id for r in requests}, PROMPT) == {r.id for r in requests}

    asyncio.run(scenario())


def test_many_publishes_in_flight_are_each_confirmed(name: str, open_queue: OpenQueue) -> None:
    queue = open_queue(RABBITMQ_URL, name)
    requests = [a_request() for _ in range(500)]

    async def scenario() -> None:
        await queue.publish(a_request())  # connected
        await asyncio.gather(*(queue.publish(request) for request in requests))
        assert {r.id for r in requests} <= await receive_ids(queue, {r.id for r in requests}, PROMPT)

    asyncio.run(scenario())


def test_a_large_image_reaches_the_consumer_in_a_few_socket_reads_not_one_per_4_kib(
    name: str, open_queue: OpenQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pika reads 4 KiB at a time unless told otherwise, and goes round its I/O loop after each
    # read: 25 trips for this image. Mutation: without adapters.rabbitmq.connection's RECV_BYTES,
    # this counts about 30 reads.
    reads: list[int] = []
    recv = _AsyncTransportBase._sigint_safe_recv

    def counted(sock: Any, max_bytes: int) -> bytes:
        data: bytes = recv(sock, max_bytes)
        reads.append(len(data))
        return data

    queue = open_queue(RABBITMQ_URL, name)
    image = jpeg_bytes() + bytes(100 * 1024)  # what follows a JPEG's end is no one's business
    request = InferenceRequest(RequestId.new(), image, "image/jpeg", 1, datetime.now(UTC))

    async def scenario() -> None:
        await queue.publish(request)
        monkeypatch.setattr(_AsyncTransportBase, "_sigint_safe_recv", staticmethod(counted))
        [delivery] = await queue.receive(max_count=1, fill_wait=0.0, idle_wait=PROMPT * 5)
        monkeypatch.undo()
        assert delivery.request.image == request.image
        await queue.ack(delivery)

    asyncio.run(scenario())
    print(f"a 100 KiB message took {len(reads)} socket reads: {reads}")
    assert len(reads) <= 8


def test_concurrent_publishes_reach_the_socket_in_fewer_writes_than_frames(
    name: str, open_queue: OpenQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A message is three frames (method, header, body), and pika sends each with a send() of its
    # own; the publisher holds one loop iteration's frames back and writes them together.
    # Mutations: a cork that passes frames through sends 3 per message; a flush per publish
    # instead of one per loop iteration sends 1 per message.
    sends: list[int] = []
    counted = _counting_sends(sends)

    queue = open_queue(RABBITMQ_URL, name)
    requests = [a_request() for _ in range(30)]  # small: a partial send would add writes of its own

    async def scenario() -> None:
        await queue.publish(a_request())  # connected
        monkeypatch.setattr(_AsyncTransportBase, "_sigint_safe_send", staticmethod(counted))
        await asyncio.gather(*(queue.publish(request) for request in requests))
        monkeypatch.undo()

    asyncio.run(scenario())
    print(f"{len(requests)} publishes took {len(sends)} socket writes")
    assert len(sends) <= 3  # one, or a few if the socket took only part of it


def test_a_batch_acknowledged_in_one_call_reaches_the_socket_in_one_write(
    name: str, open_queue: OpenQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A batch's acknowledgements are frames of their own unless they fold into one `multiple`
    # ack, which they cannot here: the first delivery is still in hand. Mutation: settlements
    # written uncorked send one frame per delivery (7 writes).
    sends: list[int] = []
    counted = _counting_sends(sends)

    queue = open_queue(RABBITMQ_URL, name)
    requests = [a_request() for _ in range(8)]

    async def scenario() -> None:
        for request in requests:
            await queue.publish(request)
        batch = await queue.receive(max_count=8, fill_wait=PROMPT, idle_wait=PROMPT)
        assert [d.request.id for d in batch] == [r.id for r in requests]
        monkeypatch.setattr(_AsyncTransportBase, "_sigint_safe_send", staticmethod(counted))
        await queue.ack_all(batch[1:])
        await asyncio.sleep(0.2)  # the loop writes its connection's buffer on its next turns
        monkeypatch.undo()
        await queue.ack(batch[0])
        assert await queue.receive(max_count=8, fill_wait=0.0, idle_wait=0.5) == []

    asyncio.run(scenario())
    assert len(sends) == 1


def _counting_sends(sends: list[int]) -> Callable[[Any, bytes], int]:
    """pika's socket send, appending each send's byte count to `sends`."""
    send = _AsyncTransportBase._sigint_safe_send

    def counted(sock: Any, data: bytes) -> int:
        sent: int = send(sock, data)
        sends.append(sent)
        return sent

    return counted
