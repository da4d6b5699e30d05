"""Every knob, read from `INFERENCE_*` environment variables (nested with `__`).

Example: `INFERENCE_WORKER__MAX_BATCH_SIZE=8`. The README lists each one with its default.
One module per section (api, worker, model, storage, webhooks) so that a section reads on one
screen; `Settings`, the root every entry point reads, and every section are importable from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from entrypoints.settings.api import ApiSettings
from entrypoints.settings.fields import CommaSeparated, LogLevel, RabbitMQUrl, RedisUrl
from entrypoints.settings.model import BUNDLED_MODELS, DEMO_MANIFEST, IMAGENET_MANIFEST, ModelSettings
from entrypoints.settings.storage import QueueSettings, StoreSettings
from entrypoints.settings.webhooks import WebhookSettings
from entrypoints.settings.worker import WorkerSettings

__all__ = [
    "BUNDLED_MODELS",
    "DEMO_MANIFEST",
    "IMAGENET_MANIFEST",
    "ApiSettings",
    "MetricsSettings",
    "ModelSettings",
    "QueueSettings",
    "Settings",
    "StoreSettings",
    "WebhookSettings",
    "WorkerSettings",
]


class MetricsSettings(BaseModel):
    enabled: bool = Field(True, description="Record Prometheus metrics (API /metrics, workers' port).")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INFERENCE_", env_nested_delimiter="__")

    mode: Literal["embedded", "distributed"] = "embedded"
    rabbitmq_url: RabbitMQUrl = Field(
        "amqp://guest:guest@127.0.0.1:5672/", description="The broker (distributed)."
    )
    redis_url: RedisUrl = Field("redis://127.0.0.1:6379/0", description="The result store (distributed).")
    log_level: LogLevel = Field("INFO", description="Python log level (any case).")
    log_format: Literal["json", "console"] | None = Field(
        None, description="json (one object per line) or console; unset: console on a terminal, else json."
    )
    api_keys: CommaSeparated = Field(
        default_factory=list, description="If any, every endpoint but health needs `Bearer <key>`."
    )
    api_keys_file: Path | None = Field(None, description="More API keys, one per line.")
    api: ApiSettings = ApiSettings()
    worker: WorkerSettings = WorkerSettings()
    model: ModelSettings = ModelSettings()
    queue: QueueSettings = QueueSettings()
    store: StoreSettings = StoreSettings()
    metrics: MetricsSettings = MetricsSettings()
    webhook: WebhookSettings = WebhookSettings()
