"""Domain types: what a request is, what it becomes, and the only legal ways it changes.

The words used for these concepts everywhere (settings, adapters, README) are in the README's
glossary: *attempt*, *top_k*, *scores*, *terminal*, *failure code*.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Literal

from inference.errors import InferenceError, InvalidImage, InvalidRequestId, InvalidTopK, InvalidTransition
from inference.timings import Timings
from inference.trace_context import trace_id_of

# The most labels a request may ask for: far more than any client reads, and it bounds a
# record's size whatever the model.
MAX_TOP_K = 1000

# How a model's arithmetic runs; the backends say which they support on which device.
Precision = Literal["fp32", "bf16", "fp16", "int8"]


@dataclass(frozen=True, order=True)
class RequestId:
    value: uuid.UUID

    @classmethod
    def new(cls) -> RequestId:
        # uuid4 draws from os.urandom, a CSPRNG: ids cannot be guessed from earlier ones.
        return cls(uuid.uuid4())

    @classmethod
    def parse(cls, text: str) -> RequestId:
        try:
            value = uuid.UUID(text)
        except (ValueError, AttributeError, TypeError) as exc:
            raise InvalidRequestId(f"{text!r} is not a request id (a UUID)") from exc
        if str(value) != text.lower():  # only the canonical form: one id, one spelling
            raise InvalidRequestId(f"{text!r} is not a request id in canonical UUID form")
        return cls(value)

    def __str__(self) -> str:
        return str(self.value)


class RequestStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in (RequestStatus.SUCCEEDED, RequestStatus.FAILED, RequestStatus.CANCELED)


@dataclass(frozen=True)
class ImageHeader:
    """What an image's header says, read without decoding a pixel. `frames` is 1 unless animated."""

    media_type: str
    width: int
    height: int
    frames: int = 1

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1 or self.frames < 1:
            raise InvalidImage(
                f"the header describes {self.frames} frame(s) of {self.width}×{self.height} pixels"
            )

    @property
    def pixels(self) -> int:
        return self.width * self.height


@dataclass(frozen=True)
class InferenceRequest:
    id: RequestId
    image: bytes = field(repr=False)
    media_type: str
    top_k: int
    submitted_at: datetime
    # No later than this, a worker that has not yet run the request ends it `deadline_exceeded`.
    deadline_at: datetime | None = None
    # The W3C trace context (`00-<trace id>-<parent id>-<flags>`) the request travels under, as
    # text: the core carries it and never reads more of it than its trace id.
    traceparent: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.top_k <= MAX_TOP_K:
            raise InvalidTopK(f"top_k must be from 1 to {MAX_TOP_K}, got {self.top_k}")


@dataclass(frozen=True)
class LabelScore:
    label: str
    score: float


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str
    labels: tuple[str, ...]
    input_size: int


@dataclass(frozen=True)
class Prediction:
    """The request's top_k labels with their softmax probabilities (`scores`), best first."""

    scores: tuple[LabelScore, ...]
    model_name: str
    model_version: str

    def __post_init__(self) -> None:
        if not self.scores:
            raise ValueError("a prediction needs at least one label")

    @property
    def label(self) -> str:
        return self.scores[0].label

    @property
    def score(self) -> float:
        return self.scores[0].score


@dataclass(frozen=True)
class Failure:
    """Why a request failed: `code` is stable for machines, `message` is for people."""

    code: str
    message: str

    @classmethod
    def of(cls, error: InferenceError) -> Failure:
        """The failure a client reads for `error`: its code, and its message."""
        return cls(error.code, str(error))


# Transitions are values rather than callables so that a store can apply them atomically on a
# server (a Redis script, say) with the same rules as `RequestRecord.apply`.
@dataclass(frozen=True)
class Start:
    at: datetime


@dataclass(frozen=True)
class Succeed:
    prediction: Prediction
    at: datetime
    timings: Timings | None = None


@dataclass(frozen=True)
class Fail:
    failure: Failure
    at: datetime
    timings: Timings | None = None


@dataclass(frozen=True)
class Cancel:
    """The client no longer wants the result: from queued or processing (a result then
    arriving is refused, as for any terminal record)."""

    at: datetime


@dataclass(frozen=True)
class Requeue:
    """An operator sends a failed request round again (`inference dlq requeue`): the one way
    out of a terminal status, and never taken by the service on its own."""

    at: datetime


Transition = Start | Succeed | Fail | Cancel | Requeue


class WebhookStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True)
class Webhook:
    """The URL a request's terminal record is sent to, and how that delivery is going.

    `attempts` counts calls of the URL (not a request's attempts, which count deliveries to a
    worker); `last_error` says why the latest call did not deliver.
    """

    url: str
    status: WebhookStatus = WebhookStatus.PENDING
    attempts: int = 0
    last_error: str | None = None


@dataclass(frozen=True)
class RequestRecord:
    request_id: RequestId
    status: RequestStatus
    top_k: int
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None
    attempts: int = 0
    prediction: Prediction | None = None
    failure: Failure | None = None
    timings: Timings | None = None
    deadline_at: datetime | None = None
    requeued: int = 0  # times an operator requeued it (Requeue)
    trace_id: str | None = None  # the W3C trace the request was submitted under (32 hex digits)
    webhook: Webhook | None = None

    @classmethod
    def queued(cls, request: InferenceRequest) -> RequestRecord:
        return cls(
            request_id=request.id,
            status=RequestStatus.QUEUED,
            top_k=request.top_k,
            created_at=request.submitted_at,
            updated_at=request.submitted_at,
            deadline_at=request.deadline_at,
            trace_id=trace_id_of(request.traceparent),
        )

    def apply(self, transition: Transition) -> RequestRecord:
        """The record after `transition`; raises InvalidTransition out of a terminal status.

        queued → processing → succeeded | failed | canceled. Processing may start again (a
        redelivery after a crashed worker), a request may fail or succeed straight from queued (a
        poison message that never reached the model), and either live status may be canceled. A
        terminal record keeps its first outcome: a worker's result after a cancel is refused. One
        exception no worker ever makes: an operator's Requeue takes a failed request back to
        queued, its attempts, failure and timings cleared and `requeued` counted.
        """
        if isinstance(transition, Requeue):
            if self.status is not RequestStatus.FAILED:
                raise InvalidTransition(
                    f"request {self.request_id} is {self.status.value}; only a failed one is requeued",
                    current=self,
                )
            return replace(
                self,
                status=RequestStatus.QUEUED,
                updated_at=transition.at,
                completed_at=None,
                attempts=0,
                failure=None,
                timings=None,
                requeued=self.requeued + 1,
                # Its webhook is called again when it ends anew.
                webhook=None if self.webhook is None else Webhook(self.webhook.url),
            )
        if self.status.is_terminal:
            raise InvalidTransition(f"request {self.request_id} is already {self.status.value}", current=self)
        match transition:
            case Start(at=at):
                return replace(
                    self, status=RequestStatus.PROCESSING, updated_at=at, attempts=self.attempts + 1
                )
            case Succeed(prediction=prediction, at=at, timings=timings):
                return replace(
                    self,
                    status=RequestStatus.SUCCEEDED,
                    updated_at=at,
                    completed_at=at,
                    prediction=prediction,
                    timings=timings,
                )
            case Fail(failure=failure, at=at, timings=timings):
                return replace(
                    self,
                    status=RequestStatus.FAILED,
                    updated_at=at,
                    completed_at=at,
                    failure=failure,
                    timings=timings,
                )
            case Cancel(at=at):
                return replace(self, status=RequestStatus.CANCELED, updated_at=at, completed_at=at)

    def with_webhook(self, webhook: Webhook) -> RequestRecord:
        """The record with its webhook's delivery state replaced, and nothing else: a delivery is
        no transition, so a terminal record keeps its status, outcome and timestamps."""
        if self.webhook is None or webhook.url != self.webhook.url:
            raise ValueError(f"request {self.request_id} has no webhook {webhook.url!r}")
        return replace(self, webhook=webhook)


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
