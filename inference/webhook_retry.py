"""When a webhook call delivered, is worth another try, or never will be; and how long to wait.

Retries follow the Standard Webhooks guidance: exponential backoff with full jitter (each wait
drawn uniformly up to the doubling bound), so receivers that were down are not hit in lockstep.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum


class Verdict(Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    GIVE_UP = "give_up"


def verdict_of(status: int) -> Verdict:
    """2xx delivered; 429 and 5xx (and 408, a timeout by another name) are worth retrying; any
    other answer (a 3xx we do not follow, a 4xx) says the receiver will never take it."""
    if 200 <= status < 300:
        return Verdict.DELIVERED
    if status in (408, 429) or status >= 500:
        return Verdict.RETRY
    return Verdict.GIVE_UP


def retry_delay(calls: int, first: float, maximum: float, draw: Callable[[], float]) -> float:
    """The wait after the `calls`-th failed call: uniform in [0, min(maximum, first·2^(calls-1))).

    `draw` gives a number in [0, 1) (random.random in production).
    """
    bound: float = min(maximum, first * 2.0 ** min(calls - 1, 60))
    return bound * draw()
