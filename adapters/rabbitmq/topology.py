"""The queues a RabbitMQ deployment of this service needs, declared alike by every process.

Every API and worker declares them on every connect (declaring is idempotent), so a broker that
lost them gets them back. RabbitMQ refuses a declaration whose arguments differ from the
queue's, so every process must be configured alike; the refusal is logged in those words.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from inference.ports import last_attempt

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueTopology:
    """`name`: a durable quorum queue of requests, bounded in length (and bytes) and in
    attempts per message; what it gives up on goes to `dead_name`, and once its request's
    failure is stored, to `parked_name`, where it stays for an operator (`inference dlq`)."""

    name: str
    max_length: int
    max_bytes: int | None
    max_attempts: int
    max_parked: int

    @property
    def last_attempt(self) -> int:
        return last_attempt(self.max_attempts)

    @property
    def dead_name(self) -> str:
        return f"{self.name}.dead"

    @property
    def parked_name(self) -> str:
        return f"{self.name}.parked"

    @property
    def parked_arguments(self) -> dict[str, Any]:
        # A classic queue, not a quorum one: an operator's listing takes every letter and gives
        # it back (basic_get, then requeue), which a quorum queue would count as a delivery and
        # in the end dead-letter. Past the bound the oldest goes (drop-head): its request's
        # failure is stored already, so only the operator's copy is lost, never an outcome.
        arguments: dict[str, Any] = {
            "x-queue-type": "classic",
            "x-max-length": self.max_parked,
            "x-overflow": "drop-head",
        }
        if self.max_bytes is not None:  # the images they keep, bounded as the queue's are
            arguments["x-max-length-bytes"] = self.max_bytes
        return arguments

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
                log.error("%s", self.mismatch(str(exc.reply_text)))
            raise
        try:
            channel.queue_declare(self.parked_name, durable=True, arguments=self.parked_arguments)
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code == 406:
                log.error(
                    "the queue %s exists with other arguments than this process declares (%s): set "
                    "INFERENCE_QUEUE__MAX_PARKED=%d alike in every process, or delete that queue",
                    self.parked_name,
                    exc.reply_text,
                    self.max_parked,
                )
            raise

    def mismatch(self, reply_text: str) -> str:
        """What to tell an operator whose process declares the queue otherwise than it exists."""
        found = _INEQUIVALENT.search(reply_text)
        if found is None or found["argument"] not in _SETTINGS:
            return (
                f"the queue {self.name} exists with other arguments than this process declares "
                f"({reply_text}): configure every process alike, or delete the queue"
            )
        name, setting, offset = _SETTINGS[found["argument"]]
        ours, theirs = found["ours"], found["theirs"]
        current = "unbounded" if theirs is None else f"{int(theirs) + offset}"
        return (
            f"the queue {self.name} exists with {name} {current}, but this process has "
            f"{setting}={getattr(self, name)}: set it alike in every process (or delete the queue "
            f"to declare it anew); the broker said {found['argument']} {theirs or 'none'} "
            f"against our {ours or 'none'}"
        )


# "inequivalent arg 'x-max-length' for queue 'q' in vhost '/': received '9' but current is '4'"
# (newer brokers say "the value '9' of type 'signedint'"; either value may be "none").
_INEQUIVALENT = re.compile(
    r"inequivalent arg '(?P<argument>[^']+)'.*?received (?:(?:the value )?'(?P<ours>[^']*)'|none)"
    r".*?current is (?:(?:the value )?'(?P<theirs>[^']*)'|none)"
)
# The broker's argument → (our field, its setting, what to add to the broker's value to get ours).
_SETTINGS = {
    "x-max-length": ("max_length", "INFERENCE_QUEUE__MAX_LENGTH", 1),
    "x-max-length-bytes": ("max_bytes", "INFERENCE_QUEUE__MAX_BYTES", 0),
    "x-delivery-limit": ("max_attempts", "INFERENCE_WORKER__MAX_ATTEMPTS", 0),
}
