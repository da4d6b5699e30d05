"""Request and response bodies of the HTTP API. Pydantic lives here, never in the core."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

# A record as clients read it: results, status streams and webhooks all send this one body.
from entrypoints.views import RequestView, WebhookBody
from inference.outcomes import ModelInfo
from inference.worker_info import WorkerInfo


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


def accepted_json(request_id: UUID, created_at: datetime, results_url: str) -> bytes:
    """`Accepted` as JSON, written directly: a 202 is the API's most frequent answer, and
    validating and serialising the model cost about a tenth of the API's CPU per request. A test
    holds it equal to `Accepted(...).model_dump_json()` (which writes UTC as "Z")."""
    created = created_at.isoformat()
    if created.endswith("+00:00"):
        created = created[:-6] + "Z"
    return (
        f'{{"request_id":"{request_id}","status":"queued","created_at":"{created}",'
        f'"results_url":{json.dumps(results_url, ensure_ascii=False)}}}'
    ).encode()


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
