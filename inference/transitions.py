"""The ways a record may change, as values: `RequestRecord.apply` holds the rules for them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from inference.outcomes import Failure, Prediction
from inference.timings import Timings


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
