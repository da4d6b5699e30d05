"""The worker's section (`INFERENCE_WORKER__*`): batching, attempts, liveness."""

from __future__ import annotations

from pathlib import Path

from pydantic import (
    BaseModel,
    Field,
)


class WorkerSettings(BaseModel):
    max_batch_size: int = Field(4, ge=1, description="Most requests classified in one forward pass.")
    max_batch_wait_ms: float = Field(
        0, ge=0, description="How long a batch may wait to fill once its first image arrived."
    )
    batches_in_flight: int = Field(
        1,
        ge=1,
        description="Batches in the classifier at once (2: decode the next during the model's pass).",
    )
    max_attempts: int = Field(3, ge=1, description="Deliveries of one request before it fails.")
    prefetch_batches: int = Field(
        2,
        ge=1,
        description="Batches a worker holds from the broker: those in the classifier and the next.",
    )
    store_patience_seconds: float = Field(
        30, ge=0, description="How long a worker waits out a store outage before requeueing its batch."
    )
    heartbeat_file: Path | None = Field(
        None, description="A file the worker touches every few seconds, for a liveness check."
    )
    metrics_port: int = Field(
        9100, ge=0, le=65535, description="Where a distributed worker serves /metrics (0: nowhere)."
    )
    heartbeat_ttl_seconds: float = Field(
        15,
        gt=0,
        description="A worker is live this long after its latest heartbeat; it beats every third of it.",
    )
