"""The queues a RabbitMQ deployment of this service needs, declared alike by every process.

Every API and worker declares them on every connect (declaring is idempotent), so a broker that
lost them gets them back. RabbitMQ refuses a declaration whose arguments differ from the
queue's, so every process must be configured alike; the refusal is logged in those words.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from inference.ports import last_attempt

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueTopology:
    """`name`: a durable quorum queue of requests, bounded in length (and bytes) and in
    attempts per message; what it gives up on goes to `dead_name`."""

    name: str
    max_length: int
    max_bytes: int | None
    max_attempts: int

    @property
    def last_attempt(self) -> int:
        return last_attempt(self.max_attempts)

    @property
    def dead_name(self) -> str:
        return f"{self.name}.dead"

    @property
    def arguments(self) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "x-queue-type": "quorum",
            # The one place attempts become the broker's counting: quorum queues count this
            # limit in redeliveries, so a message gets at most `last_attempt` deliveries.
            "x-delivery-limit": self.last_attempt - 1,
            # A full queue refuses new work (the API answers 429) rather than dropping old work.
            # Quorum queues refuse only once *over* x-max-length: one less holds `max_length`.
            "x-overflow": "reject-publish",
            "x-max-length": max(self.max_length - 1, 0),
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": self.dead_name,
            "x-dead-letter-strategy": "at-least-once",  # needs reject-publish; loses no letter
        }
        if self.max_bytes is not None:
            arguments["x-max-length-bytes"] = self.max_bytes
        return arguments

    def declare(self, channel: BlockingChannel) -> None:
        try:
            channel.queue_declare(self.dead_name, durable=True, arguments={"x-queue-type": "quorum"})
            channel.queue_declare(self.name, durable=True, arguments=self.arguments)
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code == 406:  # PRECONDITION_FAILED: it exists, declared otherwise
                log.error(
                    "the queue %s exists with other arguments than this process declares (%s): "
                    "make INFERENCE_QUEUE__* match the other processes, or delete the queue",
                    self.name,
                    exc.reply_text,
                )
            raise
