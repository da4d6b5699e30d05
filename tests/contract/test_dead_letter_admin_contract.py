"""The DeadLetterAdmin contract, run against the memory queue and RabbitMQ."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from adapters.rabbitmq import QueueTopology, RabbitMQDeadLetterAdmin
from tests.contract.dead_letter_admin_contract import AdminHarness, DeadLetterAdminContract
from tests.contract.test_queue_contract import delete_queues
from tests.queues import QUEUE, WORKER, RabbitMQQueue, memory_queue
from tests.servers import RABBITMQ_URL, require_server

MAX_LENGTH = 20


def memory_harness() -> AdminHarness:
    queue = memory_queue(max_length=MAX_LENGTH)
    return AdminHarness(queue=queue, admin=queue)


def rabbitmq_harness() -> AdminHarness:
    require_server("RabbitMQ", RABBITMQ_URL)
    name = f"test.contract.{uuid.uuid4().hex}"
    queue = RabbitMQQueue(RABBITMQ_URL, name, max_length=MAX_LENGTH, timeout=5.0)
    queue.start(wait=10.0)
    topology = QueueTopology(name, MAX_LENGTH, None, WORKER.max_attempts, QUEUE.max_parked)
    admin = RabbitMQDeadLetterAdmin(RABBITMQ_URL, topology, timeout=5.0)

    def close() -> None:
        queue.shutdown()
        delete_queues(name)

    return AdminHarness(queue=queue, admin=admin, close=close)


class TestDeadLetterAdminContract(DeadLetterAdminContract):
    @pytest.fixture(
        params=[
            pytest.param(memory_harness, id="memory"),
            pytest.param(rabbitmq_harness, id="rabbitmq", marks=pytest.mark.server),
        ]
    )
    def subject(self, request: pytest.FixtureRequest) -> Iterator[AdminHarness]:
        harness: AdminHarness = request.param()
        yield harness
        harness.close()
