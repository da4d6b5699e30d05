"""Exponential backoff with jitter: the one pacing rule for every retry loop in the service.

Threads reconnecting to the broker, the Redis subscriber, the worker's loops and the store
retry all wait by it, so an outage is met everywhere with the same doubling, capped delays,
and the jitter keeps many processes that lost a server at once from returning in lockstep.
"""

from __future__ import annotations

import random


class Backoff:
    """Delays of `first`, doubling up to `maximum`, each scaled by a random factor in
    [1 - jitter, 1 + jitter]; `reset` after a success starts again from `first`."""

    def __init__(self, first: float, maximum: float, jitter: float = 0.2) -> None:
        if not 0 < first <= maximum:
            raise ValueError(f"need 0 < first <= maximum, got {first} and {maximum}")
        if not 0 <= jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), got {jitter}")
        self._first, self._maximum, self._jitter = first, maximum, jitter
        self._delay = first

    def next(self) -> float:
        """The delay to wait now; the one after it is twice as long, up to the maximum."""
        delay, self._delay = self._delay, min(self._delay * 2, self._maximum)
        # Jitter spreads retries, it does not protect a secret.
        return delay * random.uniform(1 - self._jitter, 1 + self._jitter)  # noqa: S311

    def reset(self) -> None:
        self._delay = self._first
