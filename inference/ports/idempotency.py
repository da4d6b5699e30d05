"""Idempotency keys: what a key stands for, and the atomic claim that makes a submit happen once."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from inference.domain import RequestId


@dataclass(frozen=True)
class KeyClaim:
    """What an idempotency key stands for: the submission that first used it.

    `fingerprint` sums up that submission's image and parameters; `confirmed` is False while the
    claim is pending (its request not yet safely enqueued) and True once it is for good;
    `created_at` is when the request was accepted (once confirmed; when it was claimed before).
    """

    fingerprint: str
    request_id: RequestId
    created_at: datetime
    confirmed: bool = False


class IdempotencyKeys(Protocol):
    """Idempotency keys shared by every API process (see `use_cases.idempotency` for why)."""

    @abstractmethod
    async def claim(self, key: str, claim: KeyClaim, lease: float) -> KeyClaim | None:
        """Record the pending `claim` under `key` for `lease` seconds, unless the key holds one.

        None if recorded; else the claim the key holds, unchanged. Atomic: of concurrent claims
        of one key exactly one is recorded. A pending claim is forgotten once its lease runs out
        (its API process died before confirming), so the key may be claimed again.
        """

    @abstractmethod
    async def confirm(self, key: str, request_id: RequestId, created_at: datetime) -> bool:
        """Make the pending claim of `request_id` under `key` final, accepted at `created_at`,
        kept for the keys' time-to-live; False (and no change) if the key no longer holds that
        claim. True again for a claim already confirmed."""

    @abstractmethod
    async def release(self, key: str, request_id: RequestId) -> None:
        """Forget the pending claim of `request_id` under `key` (its request was not
        enqueued); a claim of another request, or a confirmed one, stays."""

    @abstractmethod
    async def get(self, key: str) -> KeyClaim | None:
        """The claim `key` holds now, pending or confirmed; None if none."""
