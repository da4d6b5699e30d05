"""A worker as it describes itself to the registry: apart from requests, which it only serves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class WorkerInfo:
    """A live worker as it describes itself in its heartbeat (see the WorkerRegistry port).

    `model` and `model_version` name what it serves; `batch_size` is its largest batch;
    `last_batch_at` is None until it has finished a batch. `seen_at` is the registry's: when
    the worker's latest heartbeat arrived (None in what a worker sends).
    """

    id: str
    host: str
    pid: int
    model: str
    model_version: str
    backend: str
    batch_size: int
    started_at: datetime
    last_batch_at: datetime | None = None
    seen_at: datetime | None = None
