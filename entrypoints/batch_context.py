"""What a worker's batch leaves behind besides its results: a span and one log line.

The span links to every request's trace (a batch has many requests and a span one parent); the
line says what became of the batch, with its requests' ids and trace ids, so that one request can
be followed from the API's access line to the worker's. Every line logged while the batch runs
(the core's too) carries its `batch_id`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import structlog

from entrypoints.tracing import batch_span
from inference.ports import Delivery
from inference.trace_context import trace_id_of
from inference.use_cases.worker import BatchReport

log = logging.getLogger("entrypoints.worker")


class BatchLog:
    """Filled in by the worker once its batch is done; logged as the batch's one line."""

    report: BatchReport | None = None


@contextmanager
def batch_context(deliveries: Sequence[Delivery]) -> Iterator[BatchLog]:
    requests = [delivery.request for delivery in deliveries]
    outcome, started = BatchLog(), time.perf_counter()
    with (
        batch_span([request.traceparent for request in requests], len(requests)),
        structlog.contextvars.bound_contextvars(batch_id=uuid.uuid4().hex[:16]),
    ):
        yield outcome
        if not log.isEnabledFor(logging.INFO):  # a line per batch nobody reads: no fields either
            return
        report = outcome.report
        fields = {
            "size": len(requests),
            "duration_seconds": round(time.perf_counter() - started, 6),
            "request_ids": [str(request.id) for request in requests],
            "trace_ids": [trace_id_of(request.traceparent) for request in requests],
        }
        if report is None:  # it raised, and said so: this line is for the figures
            log.info("batch requeued", extra=fields)
            return
        log.info(
            "batch processed",
            extra={
                **fields,
                "succeeded": report.succeeded,
                "failed": report.failed,
                "skipped": report.skipped,
                "requeued": report.requeued,
            },
        )
