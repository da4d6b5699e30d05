"""The IdempotencyKeys port's contract, written once for every adapter.

A test module subclasses IdempotencyKeysContract and provides a `subject` fixture (a KeysHarness)
parametrized by adapter. Leases and the time-to-live pass with `let_time_pass`: a fake clock's
jump for the memory adapter, a real sleep for Redis (configured with short ones).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from inference.domain import RequestId
from inference.ports import IdempotencyKeys, KeyClaim

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
LATER = datetime(2024, 1, 1, 0, 0, 1, tzinfo=UTC)  # when a claimed request was accepted


@dataclass(frozen=True)
class KeysHarness:
    """`keys` keeps a confirmed claim `ttl` seconds; `lease` is short beside it (pending claims);
    `let_time_pass(seconds)` makes that much of its time go by."""

    keys: IdempotencyKeys
    ttl: float
    lease: float
    let_time_pass: Callable[[float], None]


def a_claim(fingerprint: str = "f1") -> KeyClaim:
    return KeyClaim(fingerprint, RequestId.new(), EPOCH)


class IdempotencyKeysContract:
    def test_the_first_claim_of_a_key_is_recorded_as_pending(self, subject: KeysHarness) -> None:
        claim = a_claim()

        assert asyncio.run(subject.keys.claim("k", claim, subject.lease)) is None
        assert asyncio.run(subject.keys.get("k")) == claim

    def test_a_second_claim_gets_the_first_unchanged(self, subject: KeysHarness) -> None:
        first, second = a_claim("f1"), a_claim("f2")

        async def scenario() -> KeyClaim | None:
            await subject.keys.claim("k", first, subject.lease)
            return await subject.keys.claim("k", second, subject.lease)

        assert asyncio.run(scenario()) == first

    def test_of_many_concurrent_claims_exactly_one_is_recorded(self, subject: KeysHarness) -> None:
        claims = [a_claim(f"f{i}") for i in range(20)]

        async def scenario() -> list[KeyClaim | None]:
            return await asyncio.gather(*(subject.keys.claim("k", c, subject.lease) for c in claims))

        answers = asyncio.run(scenario())
        assert answers.count(None) == 1
        winner = claims[answers.index(None)]
        assert all(answer == winner for answer in answers if answer is not None)

    def test_a_confirmed_claim_is_kept_past_its_lease(self, subject: KeysHarness) -> None:
        claim = a_claim()

        async def claim_and_confirm() -> bool:
            await subject.keys.claim("k", claim, subject.lease)
            return await subject.keys.confirm("k", claim.request_id, LATER)

        assert asyncio.run(claim_and_confirm()) is True
        subject.let_time_pass(subject.lease * 1.5)
        assert asyncio.run(subject.keys.get("k")) == replace(claim, created_at=LATER, confirmed=True)

    def test_a_confirmed_claim_expires_with_the_time_to_live(self, subject: KeysHarness) -> None:
        claim = a_claim()

        async def claim_and_confirm() -> None:
            await subject.keys.claim("k", claim, subject.lease)
            await subject.keys.confirm("k", claim.request_id, LATER)

        asyncio.run(claim_and_confirm())
        subject.let_time_pass(subject.ttl * 1.5)
        assert asyncio.run(subject.keys.get("k")) is None

    def test_a_pending_claim_is_forgotten_when_its_lease_runs_out(self, subject: KeysHarness) -> None:
        lapsed, retry = a_claim(), a_claim()
        asyncio.run(subject.keys.claim("k", lapsed, subject.lease))
        subject.let_time_pass(subject.lease * 1.5)

        async def claim_again() -> tuple[KeyClaim | None, bool]:
            # The retry takes the key; the lapsed claim's process can no longer confirm it.
            return await subject.keys.claim("k", retry, subject.lease), await subject.keys.confirm(
                "k", lapsed.request_id, LATER
            )

        assert asyncio.run(claim_again()) == (None, False)
        assert asyncio.run(subject.keys.get("k")) == retry

    def test_a_released_claim_frees_the_key(self, subject: KeysHarness) -> None:
        claim, retry = a_claim(), a_claim()

        async def scenario() -> KeyClaim | None:
            await subject.keys.claim("k", claim, subject.lease)
            await subject.keys.release("k", claim.request_id)
            return await subject.keys.claim("k", retry, subject.lease)

        assert asyncio.run(scenario()) is None

    def test_release_and_confirm_leave_another_requests_claim_alone(self, subject: KeysHarness) -> None:
        claim, stranger = a_claim(), RequestId.new()

        async def scenario() -> tuple[bool, KeyClaim | None]:
            await subject.keys.claim("k", claim, subject.lease)
            await subject.keys.release("k", stranger)
            return await subject.keys.confirm("k", stranger, LATER), await subject.keys.get("k")

        assert asyncio.run(scenario()) == (False, claim)

    def test_a_confirmed_claim_cannot_be_released(self, subject: KeysHarness) -> None:
        claim = a_claim()

        async def scenario() -> KeyClaim | None:
            await subject.keys.claim("k", claim, subject.lease)
            await subject.keys.confirm("k", claim.request_id, LATER)
            await subject.keys.release("k", claim.request_id)
            return await subject.keys.get("k")

        assert asyncio.run(scenario()) == replace(claim, created_at=LATER, confirmed=True)

    def test_keys_are_kept_apart_whatever_characters_they_hold(self, subject: KeysHarness) -> None:
        first, second = a_claim("f1"), a_claim("f2")

        async def scenario() -> tuple[KeyClaim | None, KeyClaim | None]:
            await subject.keys.claim("a:b*?[", first, subject.lease)
            await subject.keys.claim("a:b*?]", second, subject.lease)
            return await subject.keys.get("a:b*?["), await subject.keys.get("a:b*?]")

        assert asyncio.run(scenario()) == (first, second)
