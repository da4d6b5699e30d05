"""The private RabbitMQ node that fault tests break: it starts, keeps confirmed messages, stops, starts."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pika
import pika.exceptions
import pytest

from tests.servers.rabbitmq import (
    QUORUM_QUEUE_SETTLE_SECONDS,
    PrivateRabbitMQ,
    port_refuses_connections,
    private_rabbitmq,
)

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.fixture(scope="module")
def rabbitmq() -> Iterator[PrivateRabbitMQ]:
    # One node for the module: booting one costs seconds of CPU.
    with private_rabbitmq() as server:
        yield server


def connect(server: PrivateRabbitMQ) -> pika.BlockingConnection:
    parameters = pika.URLParameters(server.url)
    parameters.socket_timeout = 5
    parameters.connection_attempts = 1
    return pika.BlockingConnection(parameters)


def publish_confirmed(server: PrivateRabbitMQ, queue: str, body: bytes) -> None:
    """Declare a durable quorum queue and publish one persistent message the broker confirmed."""
    with connect(server) as connection:
        channel = connection.channel()
        channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
        channel.confirm_delivery()
        channel.basic_publish(
            "", queue, body, pika.BasicProperties(delivery_mode=2), mandatory=True
        )  # raises unless confirmed and routed


def take(server: PrivateRabbitMQ, queue: str) -> bytes | None:
    with connect(server) as connection:
        _, _, body = connection.channel().basic_get(queue, auto_ack=True)
        return body  # type: ignore[no-any-return]


def test_the_private_node_accepts_guest_on_its_own_port(rabbitmq: PrivateRabbitMQ) -> None:
    assert rabbitmq.port != 5672
    assert rabbitmq.url == f"amqp://guest:guest@127.0.0.1:{rabbitmq.port}/"
    with connect(rabbitmq) as connection:
        assert connection.is_open


def test_a_fresh_node_has_the_quorum_queue_feature_enabled(rabbitmq: PrivateRabbitMQ) -> None:
    flags = rabbitmq.rabbitmqctl("list_feature_flags", "--quiet")

    assert flags.returncode == 0, flags.stderr
    assert any(line.split() == ["quorum_queue", "enabled"] for line in flags.stdout.splitlines())


def test_a_confirmed_persistent_message_in_a_quorum_queue_survives_a_restart(
    rabbitmq: PrivateRabbitMQ,
) -> None:
    queue, body = f"survivor-{uuid.uuid4()}", uuid.uuid4().bytes
    publish_confirmed(rabbitmq, queue, body)

    rabbitmq.restart()

    assert take(rabbitmq, queue) == body


def test_a_confirmed_message_survives_even_a_sigkill(rabbitmq: PrivateRabbitMQ) -> None:
    queue, body = f"survivor-{uuid.uuid4()}", uuid.uuid4().bytes
    publish_confirmed(rabbitmq, queue, b"declares the queue")
    time.sleep(QUORUM_QUEUE_SETTLE_SECONDS)  # a younger queue comes back leaderless (see the constant)
    publish_confirmed(rabbitmq, queue, body)

    rabbitmq.kill()
    rabbitmq.start()

    assert take(rabbitmq, queue) == b"declares the queue"
    assert take(rabbitmq, queue) == body


def test_a_stopped_node_refuses_connections_and_starts_again(rabbitmq: PrivateRabbitMQ) -> None:
    rabbitmq.stop()

    assert not rabbitmq.running
    assert port_refuses_connections(rabbitmq.port)
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        connect(rabbitmq)

    rabbitmq.start()

    with connect(rabbitmq) as connection:
        assert connection.is_open
