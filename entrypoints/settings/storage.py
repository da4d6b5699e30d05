"""Where requests wait and records live (`INFERENCE_QUEUE__*`, `INFERENCE_STORE__*`)."""

from __future__ import annotations

from pydantic import (
    BaseModel,
    Field,
)


class QueueSettings(BaseModel):
    name: str = Field("inference.requests", min_length=1, description="RabbitMQ queue (distributed mode).")
    max_length: int = Field(10_000, ge=1, description="Requests waiting at most; past that, 429.")
    max_bytes: int = Field(1 << 30, ge=1, description="Image bytes waiting at most; past that, 429.")
    timeout_seconds: float = Field(
        5, gt=0, description="Longest wait for the broker (a publish's confirm); past that, 503."
    )
    max_parked: int = Field(
        10_000,
        ge=1,
        description="Dead letters kept for `inference dlq` (failures are stored); past that, the oldest go.",
    )


class StoreSettings(BaseModel):
    ttl_seconds: float = Field(24 * 3600, gt=0, description="How long a request's record is kept.")
    max_records: int = Field(100_000, ge=1, description="Records at most (embedded mode).")
    key_prefix: str = Field("inference:", description="Prefix of every Redis key (distributed mode).")
    timeout_seconds: float = Field(2, gt=0, description="Longest wait for Redis; past that, 503.")
