"""Every knob, read from `INFERENCE_*` environment variables (nested with `__`).

Example: `INFERENCE_WORKER__MAX_BATCH_SIZE=8`. The README lists each one with its default.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from inference.domain import Precision
from inference.signatures import secret_key

_ROOT = Path(__file__).resolve().parent.parent
DEMO_MANIFEST = _ROOT / "demo" / "model" / "model.yaml"
IMAGENET_MANIFEST = _ROOT / "models" / "efficientnet-lite0" / "model.yaml"
# Models that come with the service, by the name `--model` and INFERENCE_MODEL__MANIFEST accept.
BUNDLED_MODELS = {"imagenet": IMAGENET_MANIFEST, "demo": DEMO_MANIFEST}


def _bundled_model(value: object) -> object:
    return BUNDLED_MODELS.get(value, value) if isinstance(value, str) else value


def _comma_separated(value: object) -> object:
    """`a, b` from the environment → ["a", "b"]; a list (from code) is kept as it is."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


CommaSeparated = Annotated[list[str], NoDecode, BeforeValidator(_comma_separated)]


def _url_check(*schemes: str) -> AfterValidator:
    """A URL with one of `schemes` and, if any, a numeric port: checked here, so that a typo stops
    the start-up with a message instead of failing every request later."""
    prefixes = [f"{scheme}://" for scheme in schemes]
    allowed = f"{', '.join(prefixes[:-1])} or {prefixes[-1]}"

    def check(url: str) -> str:
        if not url.startswith(tuple(prefixes)):
            raise ValueError(f"should start with {allowed}")
        parts = urlsplit(url)
        try:
            parts.port  # noqa: B018 (parsing the port is the check)
        except ValueError:
            raise ValueError("has a port that is not a number from 0 to 65535") from None
        if parts.scheme == "unix" and not parts.path:
            raise ValueError("should name a socket file: unix:///path/to/redis.sock")
        return url

    return AfterValidator(check)


RabbitMQUrl = Annotated[str, _url_check("amqp", "amqps")]
RedisUrl = Annotated[str, _url_check("redis", "rediss", "unix")]
LogLevel = Annotated[
    Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"],
    BeforeValidator(lambda value: value.upper() if isinstance(value, str) else value),
]


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


class WorkerSettings(BaseModel):
    max_batch_size: int = Field(4, ge=1, description="Most requests classified in one forward pass.")
    max_batch_wait_ms: float = Field(
        0, ge=0, description="How long a batch may wait to fill once its first image arrived."
    )
    batches_in_flight: int = Field(
        1,
        ge=1,
        description="Batches a worker handles at once (2: decode the next during the model's pass).",
    )
    max_attempts: int = Field(3, ge=1, description="Deliveries of one request before it fails.")
    prefetch_batches: int = Field(
        2, ge=1, description="Batches a worker holds from the broker: those in flight and the next."
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


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "inference"


class ModelSettings(BaseModel):
    manifest: Annotated[Path, BeforeValidator(_bundled_model)] = Field(
        IMAGENET_MANIFEST,
        description="The model manifest (YAML) to serve, or a bundled model: imagenet, demo (shapes).",
    )
    backend: Literal["torch", "onnxruntime", "openvino"] = Field(
        "openvino",
        description="What runs the model: torch (eager), or its ONNX export on onnxruntime/openvino.",
    )
    precision: Precision = Field(
        "fp32",
        description="bf16: torch or openvino, on CPUs with AVX512-BF16/AMX; fp16: torch on cuda; "
        "int8: openvino, after `inference quantize`.",
    )
    int8_model: Path | None = Field(
        None,
        description="The INT8 model (a folder `inference quantize` wrote) to serve; None = the newest "
        "one of the manifest's model in cache_dir.",
    )
    compile: bool = Field(False, description="torch.compile the model (backend torch; slow to start).")
    device: str = Field("cpu", description="cpu, cuda, cuda:1 … (cuda: backend torch or onnxruntime-gpu).")
    threads: int | None = Field(
        None, ge=1, description="Inference threads; None = the CPUs this process may use (affinity, cgroup)."
    )
    decode_threads: int = Field(2, ge=1, description="Threads decoding a batch's images.")
    cache_dir: Path = Field(
        default_factory=_default_cache_dir,
        description="ONNX exports (by weights hash) and INT8 models: $XDG_CACHE_HOME/inference.",
    )

    # Field validators (not a model one), so that the error names the setting.
    @field_validator("precision")
    @classmethod
    def _int8_needs_openvino(cls, precision: Precision, info: ValidationInfo) -> Precision:
        backend = info.data.get("backend")
        if precision == "int8" and backend != "openvino":
            raise ValueError(f"int8 runs on backend openvino only, not {backend}")
        return precision

    @field_validator("compile")
    @classmethod
    def _compile_needs_torch(cls, compile: bool, info: ValidationInfo) -> bool:
        backend = info.data.get("backend")
        if compile and backend != "torch":
            raise ValueError(f"compile applies to backend torch only, not {backend}")
        return compile


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


def _webhook_secret(secret: SecretStr | None) -> SecretStr | None:
    if secret is not None:
        secret_key(secret.get_secret_value())  # ValueError names what is wrong with it
    return secret


def _networks(networks: list[str]) -> list[str]:
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ValueError(f"{network!r} is not a network in CIDR form (10.0.0.0/8, fd00::/8)") from None
    return networks


def _unset_if_empty(value: object) -> object:
    # An empty variable (compose's `${INFERENCE_WEBHOOK__SECRET:-}`) means none.
    return None if value == "" else value


class WebhookSettings(BaseModel):
    secret: Annotated[SecretStr | None, BeforeValidator(_unset_if_empty), AfterValidator(_webhook_secret)] = (
        Field(
            None,
            description="Signs webhooks (Standard Webhooks: whsec_<base64 of 24-64 random bytes>); "
            "none: POSTs naming a webhook get 422.",
        )
    )
    allowed_networks: Annotated[CommaSeparated, AfterValidator(_networks)] = Field(
        default_factory=list,
        description="CIDRs a webhook may reach although not public (the SSRF guard refuses the rest).",
    )
    dispatch: bool = Field(
        True, description="This worker (or embedded service) calls the webhooks that are due."
    )
    connect_timeout_seconds: float = Field(5, gt=0, description="Resolving and connecting to a webhook.")
    read_timeout_seconds: float = Field(10, gt=0, description="Waiting for a webhook's answer.")
    max_response_bytes: int = Field(64 * 1024, ge=1, description="Most bytes of an answer read.")
    max_age_seconds: float = Field(
        24 * 3600, gt=0, description="Retries stop this long after the request finished: failed."
    )
    first_retry_seconds: float = Field(1, gt=0, description="Bound of the first retry's wait (doubling).")
    max_retry_seconds: float = Field(3600, gt=0, description="Bound of any retry's wait.")
    lease_seconds: float = Field(
        60, gt=0, description="A claimed webhook is due again this long after, if its caller died."
    )
    batch_size: int = Field(16, ge=1, description="Webhooks a dispatcher calls at once.")
    poll_seconds: float = Field(1, gt=0, description="How often an idle dispatcher looks for due webhooks.")


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
