"""Request and response bodies of the HTTP API. Pydantic lives here, never in the core."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

# A record as clients read it: results, status streams and webhooks all send this one body.
from entrypoints.views import RequestView, WebhookBody
from inference.domain import ModelInfo, WorkerInfo


class ErrorBody(BaseModel):
    detail: str = Field(description="What went wrong, for people.")
    code: str = Field(description="A stable machine-readable name of the error.")
    status: str | None = Field(
        None, description="With `already_terminal`: the request's status, which a cancel came too late for."
    )


class Accepted(BaseModel):
    request_id: UUID
    status: Literal["queued"] = "queued"
    created_at: datetime
    results_url: str


__all__ = ["Accepted", "ErrorBody", "Health", "ModelBody", "Readiness", "RequestView", "WebhookBody"]


class ModelBody(BaseModel):
    name: str
    version: str
    labels: list[str]
    input_size: int

    @classmethod
    def of(cls, info: ModelInfo) -> ModelBody:
        return cls(name=info.name, version=info.version, labels=list(info.labels), input_size=info.input_size)


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str] = Field(description="Each dependency: 'ok' or why it is not ready.")
    workers: int | None = Field(
        None,
        description="Live workers serving the API's model (None if the registry cannot be reached).",
    )


class WorkerBody(BaseModel):
    id: str = Field(description="Unique per worker process: host, pid and a random suffix.")
    host: str
    pid: int
    model: str = Field(description="The name of the model it serves.")
    model_version: str
    backend: str
    batch_size: int = Field(description="The most requests it classifies in one forward pass.")
    started_at: datetime
    last_batch_at: datetime | None = Field(description="When it last finished a batch (None: never).")
    seen_at: datetime | None = Field(description="When its latest heartbeat arrived.")

    @classmethod
    def of(cls, worker: WorkerInfo) -> WorkerBody:
        return cls(**asdict(worker))


class WorkersBody(BaseModel):
    workers: list[WorkerBody] = Field(description="Sorted by id.")
