"""Every knob, read from `INFERENCE_*` environment variables (nested with `__`).

Example: `INFERENCE_WORKER__MAX_BATCH_SIZE=8`. The README lists each one with its default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_MANIFEST = Path(__file__).resolve().parent.parent / "demo" / "model" / "model.yaml"


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1, description="Larger bodies get 413.")
    default_top_k: int = Field(5, ge=1)
    retry_after_seconds: int = Field(1, ge=1, description="Retry-After sent with 429 and 503.")


class WorkerSettings(BaseModel):
    max_batch_size: int = Field(4, ge=1, description="Most requests classified in one forward pass.")
    max_batch_wait_ms: float = Field(10, ge=0, description="How long a batch may wait to fill.")
    max_attempts: int = Field(3, ge=1, description="Deliveries of one request before it fails.")


class ModelSettings(BaseModel):
    manifest: Path = Field(DEMO_MANIFEST, description="The model manifest (YAML) to serve.")
    device: str = Field("cpu", description="torch device: cpu, cuda, cuda:1 …")
    threads: int | None = Field(None, ge=1, description="torch intra-op threads; None = torch's choice.")


class QueueSettings(BaseModel):
    max_length: int = Field(10_000, ge=1, description="Requests waiting at most; past that, 429.")
    max_bytes: int = Field(
        1 << 30, ge=1, description="Image bytes waiting at most (embedded mode); past that, 429."
    )


class StoreSettings(BaseModel):
    ttl_seconds: float = Field(24 * 3600, gt=0, description="How long a request's record is kept.")
    max_records: int = Field(100_000, ge=1, description="Records at most (embedded mode).")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INFERENCE_", env_nested_delimiter="__")

    mode: Literal["embedded", "distributed"] = "embedded"
    log_level: str = "INFO"
    api: ApiSettings = ApiSettings()
    worker: WorkerSettings = WorkerSettings()
    model: ModelSettings = ModelSettings()
    queue: QueueSettings = QueueSettings()
    store: StoreSettings = StoreSettings()
