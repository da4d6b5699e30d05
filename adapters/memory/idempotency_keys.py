"""Idempotency keys in memory: one lock makes each call atomic, as SET NX does on Redis."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from inference.domain import RequestId
from inference.errors import StoreUnavailable
from inference.ports import IdempotencyKeys, KeyClaim


class MemoryIdempotencyKeys(IdempotencyKeys):
    """Confirmed claims live `ttl` seconds, pending ones their lease; at most `max_keys` at once."""

    def __init__(self, ttl: float, max_keys: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._claims: dict[str, tuple[KeyClaim, float]] = {}  # key → (claim, expires at)

    async def claim(self, key: str, claim: KeyClaim, lease: float) -> KeyClaim | None:
        with self._lock:
            held = self._live(key)
            if held is not None:
                return held
            if len(self._claims) >= self._max_keys:
                now = self._clock()
                for stale in [k for k, (_, expires_at) in self._claims.items() if expires_at <= now]:
                    del self._claims[stale]
                if len(self._claims) >= self._max_keys:
                    raise StoreUnavailable(
                        f"the store holds its maximum of {self._max_keys} idempotency keys"
                    )
            self._claims[key] = (replace(claim, confirmed=False), self._clock() + lease)
            return None

    async def confirm(self, key: str, request_id: RequestId, created_at: datetime) -> bool:
        with self._lock:
            held = self._live(key)
            if held is None or held.request_id != request_id:
                return False
            if not held.confirmed:
                confirmed = replace(held, created_at=created_at, confirmed=True)
                self._claims[key] = (confirmed, self._clock() + self._ttl)
            return True

    async def release(self, key: str, request_id: RequestId) -> None:
        with self._lock:
            held = self._live(key)
            if held is not None and held.request_id == request_id and not held.confirmed:
                del self._claims[key]

    async def get(self, key: str) -> KeyClaim | None:
        with self._lock:
            return self._live(key)

    def _live(self, key: str) -> KeyClaim | None:
        entry = self._claims.get(key)
        if entry is None:
            return None
        claim, expires_at = entry
        if expires_at <= self._clock():
            del self._claims[key]
            return None
        return claim
