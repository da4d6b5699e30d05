"""Parked dead letters as AMQP messages: the dead letter as it came (image and request
metadata), plus why it failed and when it was parked, in headers of our own."""

from __future__ import annotations

from datetime import datetime

import pika
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

from adapters.rabbitmq.messages import request_id_of
from inference.clock import utc_now
from inference.outcomes import Failure
from inference.ports import ParkedLetter

PARKED_AT, FAILURE_CODE, FAILURE_MESSAGE = "x-parked-at", "x-failure-code", "x-failure-message"
# What the broker adds on dead-lettering and delivering, and what parking adds: a requeued
# request starts afresh without them (its attempts counted from 1 by its new queue).
_BROKER_HEADERS = ("x-death", "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason")
_DROPPED = (*_BROKER_HEADERS, "x-last-death-exchange", "x-last-death-queue", "x-last-death-reason")
_OURS = (PARKED_AT, FAILURE_CODE, FAILURE_MESSAGE)


def parked_properties(
    properties: pika.BasicProperties, failure: Failure, at: datetime
) -> pika.BasicProperties:
    headers = {key: value for key, value in (properties.headers or {}).items() if key not in _DROPPED}
    headers.pop("x-delivery-count", None)
    headers.update({PARKED_AT: at.isoformat(), FAILURE_CODE: failure.code, FAILURE_MESSAGE: failure.message})
    return _with_headers(properties, headers)


def requeued_properties(properties: pika.BasicProperties) -> pika.BasicProperties:
    """The request's message as the API published it: the parking and the broker's headers gone."""
    headers = {key: value for key, value in (properties.headers or {}).items() if key not in _OURS}
    headers.pop("x-delivery-count", None)
    return _with_headers(properties, headers)


def parked_letter(properties: pika.BasicProperties) -> ParkedLetter:
    headers = properties.headers or {}
    try:
        parked_at = datetime.fromisoformat(str(headers.get(PARKED_AT)))
    except ValueError:  # not parked by this service: an operator's own publish, say
        parked_at = datetime.fromtimestamp(0).astimezone()
    failure = Failure(str(headers.get(FAILURE_CODE, "unknown")), str(headers.get(FAILURE_MESSAGE, "")))
    return ParkedLetter(request_id_of(properties), failure, parked_at)


def _with_headers(properties: pika.BasicProperties, headers: dict[str, object]) -> pika.BasicProperties:
    return pika.BasicProperties(
        content_type=properties.content_type,
        delivery_mode=pika.DeliveryMode.Persistent,
        message_id=properties.message_id,
        type=properties.type,
        timestamp=properties.timestamp,
        headers=headers,
    )


class Parker:
    """Publishes dead letters to the parked queue on a channel of its own, in confirm mode (so a
    publish returns once the broker has it); on the connection's thread only."""

    def __init__(self, queue: str) -> None:
        self._queue = queue
        self._channel: BlockingChannel | None = None

    def park(
        self, connection: BlockingConnection, properties: pika.BasicProperties, body: bytes, failure: Failure
    ) -> None:
        if self._channel is None or not self._channel.is_open:
            self._channel = connection.channel()
            self._channel.confirm_delivery()
        parked = parked_properties(properties, failure, utc_now())
        self._channel.basic_publish("", self._queue, body, parked, mandatory=True)

    def forget(self) -> None:
        """The connection is gone, and its channels with it."""
        self._channel = None
