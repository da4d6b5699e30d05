"""Domain types: what a request is, what it becomes, and the only legal ways it changes.

The words used for these concepts everywhere (settings, adapters, README) are in the README's
glossary: *attempt*, *top_k*, *scores*, *terminal*, *failure code*. What a request ends with is in
`outcomes`, the transitions a record takes in `transitions`, a webhook's delivery state in
`webhook_delivery`: this module keeps the request, its record and the one place for the rules.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Literal

from inference.errors import InvalidRequestId, InvalidTopK, InvalidTransition
from inference.outcomes import Failure, Prediction
from inference.timings import Timings
from inference.trace_context import trace_id_of
from inference.transitions import Cancel, Fail, Requeue, Start, Succeed, Transition
from inference.webhook_delivery import Webhook

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
        request_id = cls(value)
        if str(request_id) != text.lower():  # only the canonical form: one id, one spelling
            raise InvalidRequestId(f"{text!r} is not a request id in canonical UUID form")
        return request_id

    def __str__(self) -> str:
        # Formatted once (UUID formats itself anew each time, about 0.5 µs): a request's id names
        # its record, its channel, its message and its log lines. Not a field: equality, order
        # and hashing stay the UUID's. Two threads may both format it; they write the same text.
        text: str | None = self.__dict__.get("_text")
        if text is None:
            text = str(self.value)
            object.__setattr__(self, "_text", text)
        return text


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
