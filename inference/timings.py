"""Where a request's time went, in seconds: what a worker measures and its record keeps."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BatchTimings:
    """What a classifier reports of one batch: decoding every image, and the forward pass."""

    preprocess: float
    model: float


@dataclass(frozen=True)
class Timings:
    """One request's: waiting in the queue (submitted → taken by a worker), its batch's
    preprocessing and forward pass (None where the request never reached the model, or the
    classifier cannot tell), and in all (submitted → outcome)."""

    queue_wait: float
    preprocess: float | None
    model: float | None
    total: float
