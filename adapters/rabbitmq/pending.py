"""Publishes waiting for their confirms, and how each caller hears the outcome."""

from __future__ import annotations

import asyncio
import itertools
from collections import OrderedDict
from dataclasses import dataclass

import pika

from inference.errors import Overloaded, QueueUnavailable


class UnroutableMessage(QueueUnavailable):
    """No queue took the message: the queue it names does not exist (any more)."""


@dataclass(frozen=True)
class Pending:
    """A message to publish; `future` (of the publishing loop) completes with its outcome."""

    queue: str
    body: bytes
    properties: pika.BasicProperties
    future: asyncio.Future[None]


Outcome = tuple[Pending, BaseException | None]


class Confirms:
    """One channel's published messages awaiting the broker's confirm, by delivery tag.

    The broker confirms by delivery tag, the channel's count of messages published; `multiple`
    confirms every tag up to the one named. A mandatory message that no queue takes is returned
    (basic.return) before it is confirmed, so a return marks its message as failed ahead of the
    ack. Used on the publishing connection's event loop only.
    """

    def __init__(self) -> None:
        self._unconfirmed: OrderedDict[int, Pending] = OrderedDict()
        self._returned: set[str] = set()
        self._published = 0

    def sent(self, message: Pending) -> None:
        self._published += 1
        self._unconfirmed[self._published] = message

    def returned(self, message_id: str) -> None:
        self._returned.add(message_id)

    def confirmed(self, tag: int, multiple: bool, acked: bool) -> list[Outcome]:
        """The outcome of each message the confirm settles: None, or why it failed."""
        tags = list(itertools.takewhile(lambda t: t <= tag, self._unconfirmed)) if multiple else [tag]
        outcomes: list[Outcome] = []
        for each in tags:
            message = self._unconfirmed.pop(each, None)
            if message is None:
                continue
            if message.properties.message_id in self._returned:
                self._returned.discard(message.properties.message_id)
                error: BaseException | None = UnroutableMessage(
                    f"the queue {message.queue} did not exist; try again"
                )
            elif acked:
                error = None
            else:
                error = Overloaded(f"the queue {message.queue} is full; try again later")
            outcomes.append((message, error))
        return outcomes

    def forget_all(self) -> list[Pending]:
        """Every message still unconfirmed, oldest first; the channel is gone."""
        unconfirmed = list(self._unconfirmed.values())
        self._unconfirmed.clear()
        self._returned.clear()
        return unconfirmed


def complete(outcomes: list[Outcome]) -> None:
    """Complete each message's future (on the loop that runs the connection: its callers' loop)."""
    for message, error in outcomes:
        if message.future.done():  # its caller gave up waiting
            continue
        if error is None:
            message.future.set_result(None)
        else:
            message.future.set_exception(error)
