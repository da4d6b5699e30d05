"""The service's Prometheus metrics: one registry per process (per container), named `inference_*`.

Base units, `_total` counters, no per-request labels. Each histogram has buckets for what it
measures: the library's defaults (5 ms to 10 s) cut off queue waits, which run to minutes, and
lump every forward pass into two or three buckets.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# A queue wait or a time to result: milliseconds when idle, minutes under a backlog.
WAIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
# One forward pass: a few ms for a small batch on a GPU, a second or more for a large one on a CPU.
MODEL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5)
# Decoding and resizing one image: sub-millisecond for a thumbnail, tens of ms for a large photo.
PREPROCESS_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)

log = logging.getLogger(__name__)

Count = Callable[[], int]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._workers_alive: Gauge | None = None
        r = self.registry
        self.requests = Counter(
            "inference_requests",
            "Submissions, by outcome: accepted or the refusal's code.",
            ["outcome"],
            registry=r,
        )
        self.results = Counter(
            "inference_results",
            "Terminal outcomes stored, by status and failure code.",
            ["status", "code"],
            registry=r,
        )
        self.queue_wait = Histogram(
            "inference_queue_wait_seconds",
            "Submitted → taken by a worker, per delivery.",
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.preprocess = Histogram(
            "inference_preprocess_seconds",
            "Decoding and resizing, per image (its batch's time divided by the batch's size).",
            buckets=PREPROCESS_BUCKETS,
            registry=r,
        )
        self.model = Histogram(
            "inference_model_seconds", "One forward pass (a batch).", buckets=MODEL_BUCKETS, registry=r
        )
        self.time_to_result = Histogram(
            "inference_time_to_result_seconds",
            "Submitted → terminal record stored, per request.",
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "inference_batch_size",
            "Requests per batch given to the model.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "inference_queue_depth",
            "Messages in the queue, by state: ready or unacked.",
            ["state"],
            registry=r,
        )
        self.dead_letters = Gauge(
            "inference_dead_letters",
            "Dead letters waiting to be settled, and parked ones (`inference dlq list`).",
            registry=r,
        )
        self.redeliveries = Counter(
            "inference_redeliveries", "Deliveries of a message after its first.", registry=r
        )
        self.dead_lettered = Counter(
            "inference_dead_lettered",
            "Dead letters settled, by reason (their failure code).",
            ["reason"],
            registry=r,
        )
        self.model_info = Gauge(
            "inference_model_info",
            "The served model (= 1).",
            ["name", "version", "backend", "precision"],
            registry=r,
        )

    def describe_model(self, name: str, version: str, backend: str, precision: str) -> None:
        self.model_info.labels(name, version, backend, precision).set(1)

    def watch_queue_depth(self, ready: Count, unacked: Count | None = None) -> None:
        """Read the queue's depth at each scrape; a count that fails reads as NaN, not a failed scrape."""
        self.queue_depth.labels("ready").set_function(_or_nan(ready))
        if unacked is not None:
            self.queue_depth.labels("unacked").set_function(_or_nan(unacked))

    def watch_dead_letters(self, count: Count) -> None:
        """Read the dead letters (waiting to be settled, and parked) at each scrape."""
        self.dead_letters.set_function(_or_nan(count))

    def watch_oldest_request_age(self, age: Callable[[], float]) -> None:
        """Read the oldest waiting request's age at each scrape (where the queue can tell)."""
        gauge = Gauge(
            "inference_oldest_request_age_seconds",
            "Seconds the oldest waiting request has waited (the embedded queue only).",
            registry=self.registry,
        )
        gauge.set_function(_or_nan(age))

    def watch_workers_alive(self, count: Callable[[], float]) -> None:
        """Expose the live workers' count, read from `count` at each scrape. Only the API's
        registry has the gauge: a worker's cannot tell, and a 0 there would read as an outage."""
        if self._workers_alive is None:  # an app's lifespan may run more than once
            self._workers_alive = Gauge(
                "inference_workers_alive",
                "Live workers serving this API's model (NaN while the registry cannot be reached).",
                registry=self.registry,
            )
        self._workers_alive.set_function(count)

    def exposition(self) -> bytes:
        """The text format a scrape reads."""
        return generate_latest(self.registry)


def _or_nan(count: Callable[[], float]) -> Callable[[], float]:
    def read() -> float:
        try:
            return float(count())
        except Exception:
            log.warning("could not read a queue's figure", exc_info=True)
            return math.nan

    return read
