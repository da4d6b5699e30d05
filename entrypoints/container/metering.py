"""What the container builds when metrics are on: the registry, and the ports wrapped to fill it.

With `metrics.enabled` off every function hands back the adapter as it is: no wrapper, no cost.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from prometheus_client import start_http_server

from adapters.memory import MemoryQueue
from adapters.model import ModelManifest
from adapters.prometheus import MeteredClassifier, MeteredConsumer, MeteredStore, Metrics
from adapters.rabbitmq import RabbitMQConsumer
from inference.ports import Classifier, Consumer, DeadLetters, ResultStore

log = logging.getLogger(__name__)


def metrics(
    enabled: bool, manifest: ModelManifest, backend: str, precision: str, memory_queue: MemoryQueue | None
) -> Metrics | None:
    if not enabled:
        return None
    built = Metrics()
    built.describe_model(manifest.name, manifest.version, backend, precision)
    if memory_queue is not None:  # the API's process holds the queue: its depth is at hand
        built.watch_queue_depth(memory_queue.ready_count, memory_queue.unacked_count)
        built.watch_dead_letters(memory_queue.dead_letter_count)
        # RabbitMQ cannot tell it without taking the message (a quorum queue would count that
        # as a delivery): only the embedded queue shows it.
        built.watch_oldest_request_age(memory_queue.oldest_age)
    return built


def watch_broker_queue(metrics: Metrics | None, consumer: object) -> None:
    """A distributed worker reports the broker queue's ready count and its dead letters (a round
    trip each per scrape; RabbitMQ does not say how many are unacknowledged this way, nor how old
    the oldest is: read its own metrics for that)."""
    if metrics is not None and isinstance(consumer, RabbitMQConsumer):
        metrics.watch_queue_depth(consumer.ready_count)
        metrics.watch_dead_letters(consumer.dead_letter_count)


def classifier(inner: Classifier, metrics: Metrics | None) -> Classifier:
    return inner if metrics is None else MeteredClassifier(inner, metrics)


class WorkerQueue(Consumer, DeadLetters, Protocol):
    """A worker's side of the queue: it consumes, and settles the dead letters."""


def consumer(inner: WorkerQueue, metrics: Metrics | None) -> WorkerQueue:
    return inner if metrics is None else MeteredConsumer(inner, inner, metrics)


def store(inner: ResultStore, metrics: Metrics | None) -> ResultStore:
    return inner if metrics is None else MeteredStore(inner, metrics)


@contextmanager
def serve_metrics(metrics: Metrics | None, port: int) -> Iterator[None]:
    """/metrics on `port`, from prometheus_client's own HTTP server in a thread, while in the
    block: a distributed worker's scrape target (nothing with metrics off or port 0)."""
    if metrics is None or not port:
        yield
        return
    try:
        server, _ = start_http_server(port, registry=metrics.registry)
    except OSError as exc:  # most often another worker on this host holds the port
        raise OSError(f"INFERENCE_WORKER__METRICS_PORT={port}: {exc.strerror}") from exc
    log.info("metrics on :%d/metrics", port)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
