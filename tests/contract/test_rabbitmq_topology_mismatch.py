"""A process configured otherwise than the queue it finds says so plainly and does not spin."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator

import pika
import pytest

from adapters.rabbitmq import QueueTopology, RabbitMQConsumer
from tests.servers import RABBITMQ_URL, require_server

pytestmark = pytest.mark.server


@pytest.fixture
def name() -> Iterator[str]:
    require_server("RabbitMQ", RABBITMQ_URL)
    name = f"test.mismatch.{uuid.uuid4().hex}"
    yield name
    with pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL)) as connection:
        channel = connection.channel()
        channel.queue_delete(name)
        channel.queue_delete(f"{name}.dead")


def declare(name: str, max_length: int) -> None:
    topology = QueueTopology(name, max_length=max_length, max_bytes=None, max_attempts=3, max_parked=100)
    with pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL)) as connection:
        topology.declare(connection.channel())


def test_a_worker_whose_queue_length_differs_names_both_values_and_backs_off(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    declare(name, max_length=5)
    consumer = RabbitMQConsumer(
        RABBITMQ_URL,
        QueueTopology(name, max_length=10, max_bytes=None, max_attempts=3, max_parked=100),
        prefetch=4,
        timeout=5.0,
        client_name="test-mismatch",
    )
    with caplog.at_level(logging.ERROR, logger="adapters.rabbitmq.topology"):
        consumer.start(wait=0.0)
        time.sleep(3.0)
        consumer.shutdown()

    refusals = [r.getMessage() for r in caplog.records if r.name == "adapters.rabbitmq.topology"]
    assert refusals, "the mismatch was not reported"
    assert refusals[0] == (
        f"the queue {name} exists with max_length 5, but this process has INFERENCE_QUEUE__MAX_LENGTH=10: "
        "set it alike in every process (or delete the queue to declare it anew); "
        "the broker said x-max-length 4 against our 9"
    )
    # Backing off from 0.2 s, doubling: a handful of tries in 3 s, where it used to be hundreds.
    assert len(refusals) <= 6


def test_a_mismatch_the_topology_cannot_map_still_says_what_the_broker_said() -> None:
    topology = QueueTopology("q", max_length=10, max_bytes=None, max_attempts=3, max_parked=100)
    text = "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'q' in vhost '/'"
    assert topology.mismatch(text) == (
        f"the queue q exists with other arguments than this process declares ({text}): "
        "configure every process alike, or delete the queue"
    )
