"""The HTTP API's section (`INFERENCE_API__*`): limits on what it accepts, and how long it waits."""

from __future__ import annotations

from pydantic import (
    BaseModel,
    Field,
)

from entrypoints.settings.fields import CommaSeparated


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1, description="Larger bodies get 413.")
    max_pixels: int = Field(
        40_000_000, ge=1, description="Images with more pixels (width × height) get 422, before decoding."
    )
    max_frames: int = Field(1000, ge=1, description="Animated images with more frames get 422.")
    max_side: int = Field(
        30_000,
        ge=1,
        description="Wider or taller images get 422, before decoding (decoders keep a record per line).",
    )
    max_jpeg_scans: int = Field(
        100,
        ge=1,
        description="Progressive JPEGs of more scans get 422: each scan is a pass over the whole image.",
    )
    max_upload_bytes_in_flight: int = Field(
        128 * 1024 * 1024,
        ge=1,
        description="Upload bytes the API holds at once; past that, 503 `too_many_uploads`.",
    )
    max_header_bytes: int = Field(
        64 * 1024, ge=1024, description="A request's headers in all; larger get 431 (connection closed)."
    )
    header_timeout_seconds: float = Field(
        10, gt=0, description="Time a client has to send a request's headers; past that, 408 and close."
    )
    body_timeout_seconds: float = Field(
        30, gt=0, description="Time a body may stop arriving while the API waits for it; past that, 408."
    )
    default_top_k: int = Field(5, ge=1)
    events_seconds: float = Field(
        300, gt=0, description="Longest a status stream stays open (the client reconnects after)."
    )
    retry_after_seconds: int = Field(
        1, ge=1, description="Retry-After sent with 429, 503 and 409 `idempotency_key_in_progress`."
    )
    cors_origins: CommaSeparated = Field(
        default_factory=list, description="Origins a browser may call the API from; none by default."
    )
    telemetry: bool = Field(
        False, description="FastAPI's OpenTelemetry traces, metrics and logs (needs an OTel SDK set up)."
    )
    default_deadline_seconds: float | None = Field(
        None, gt=0, description="A request's deadline when its client gives none (None: no deadline)."
    )
    max_deadline_seconds: float = Field(
        24 * 3600, gt=0, description="The longest deadline a client may ask for; longer gets 422."
    )
    idempotency_lease_seconds: float = Field(
        30,
        gt=0,
        description="How long an Idempotency-Key stays claimed by a submission still being enqueued "
        "(longer than one can take); a claim left by a crashed API is free again after this.",
    )
    idempotency_wait_seconds: float = Field(
        5,
        ge=0,
        description="How long a retry waits for the first submission with its key to be enqueued; "
        "past that, 409 `idempotency_key_in_progress`.",
    )
    min_workers: int = Field(
        1,
        ge=0,
        description="Live workers serving the API's model needed for readiness (0: readiness ignores them).",
    )
