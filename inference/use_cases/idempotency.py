"""Idempotent submits: a retried POST with the same `Idempotency-Key` runs the model once.

The key is claimed before anything is enqueued, atomically across API processes (one
`IdempotencyKeys` shared by all of them):

1. `claim` records a *pending* claim: key → (fingerprint, a fresh request id), with a short
   lease. Exactly one of many concurrent submissions with the key wins it.
2. The winner submits under that request id (record stored as queued, message published and
   confirmed by the broker), then `confirm`s the claim, which makes it final for the records'
   time-to-live. If the submission is refused (a bad image, a full queue, a broker down) the
   claim is released, so the client's retry starts afresh rather than being pointed at a
   request that was never enqueued.
3. A loser reads the claim. A different fingerprint is a different submission under a reused
   key: `IdempotencyKeyReused` (409). The same fingerprint, confirmed, answers the winner's
   request id and enqueues nothing. The same fingerprint, still pending, waits a little for the
   winner to confirm, then gives up with `IdempotencyKeyInProgress` (409, retry later).

The no-orphan rule: a key must never point at a request that will never run. It points at a
request id for good only after the broker confirmed that request's message. An API process that
crashes between claiming and confirming leaves a pending claim, which its lease ends (it is then
forgotten, and the next retry claims the key anew); the lease is longer than a submission may
take (the store's and broker's timeouts bound every step), so a live winner confirms in time.
The price of a crash after the publish but before the confirm is the one the queue already
pays, at-least-once: the retry enqueues a second request, and the model may run twice, but
nothing is lost and the client learns only one id. A winner whose lease ran out before it could
confirm (a pathological stall) still answers its own id, and says so in the log.

The fingerprint covers the image's bytes and every parameter of the submission, so that a key
reused for anything else is caught; a replay answers as the first submission did (202 with the
same body), which is what Stripe and the IETF's Idempotency-Key draft prescribe.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from inference.clock import Clock, utc_now
from inference.domain import RequestId
from inference.errors import (
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    StoreUnavailable,
)
from inference.ports import IdempotencyKeys, KeyClaim
from inference.use_cases.api import SubmitRequest

log = logging.getLogger(__name__)

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Acceptance:
    """What a submission's client is told: the request's id and when it was accepted;
    `replayed` when an earlier submission with the same idempotency key was."""

    request_id: RequestId
    created_at: datetime
    replayed: bool = False


def check_key(key: str) -> str:
    """The key if it is 1 to 255 visible ASCII characters, else InvalidIdempotencyKey."""
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all("!" <= c <= "~" for c in key):
        raise InvalidIdempotencyKey(
            f"an Idempotency-Key is 1 to {MAX_KEY_LENGTH} visible ASCII characters (no spaces)"
        )
    return key


def fingerprint(image: bytes, parameters: Mapping[str, object]) -> str:
    """A digest of the image and every submit parameter (as the client gave them)."""
    digest = hashlib.sha256(image)
    digest.update(json.dumps(dict(parameters), sort_keys=True, default=str).encode())
    return digest.hexdigest()


class SubmitOnce:
    """`SubmitRequest`, once per idempotency key (see the module's docstring); without a key,
    a plain submit."""

    def __init__(
        self,
        submit: SubmitRequest,
        keys: IdempotencyKeys,
        lease: float,
        patience: float,
        clock: Clock = utc_now,
    ) -> None:
        self._submit = submit
        self._keys = keys
        self._lease = lease
        self._patience = patience
        self._clock = clock

    async def __call__(
        self,
        image: bytes,
        top_k: int,
        deadline: float | None = None,
        idempotency_key: str | None = None,
        traceparent: str | None = None,
        webhook: str | None = None,
        request_id: RequestId | None = None,
    ) -> Acceptance:
        """`traceparent` is not part of the fingerprint: a retry is the same submission under a
        trace of its own (a replay answers the first submission's request, and so its trace).
        `request_id`: the id a new request gets (else a new one); a replay answers the first's."""
        if idempotency_key is None:
            record = await self._submit(image, top_k, deadline, request_id, traceparent, webhook)
            return Acceptance(record.request_id, record.created_at)
        key = check_key(idempotency_key)
        parameters: dict[str, object] = {"top_k": top_k, "deadline": deadline}
        if webhook is not None:  # only then: a key claimed before webhooks existed keeps its fingerprint
            parameters["webhook"] = webhook
        mine = fingerprint(image, parameters)
        claim = KeyClaim(mine, request_id or RequestId.new(), self._clock())
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self._patience
        pause = 0.01
        while (held := await self._keys.claim(key, claim, self._lease)) is not None:
            if held.fingerprint != mine:
                raise IdempotencyKeyReused(
                    f"Idempotency-Key {key!r} was used for another image or other parameters"
                )
            if held.confirmed:
                return Acceptance(held.request_id, held.created_at, replayed=True)
            if loop.time() >= give_up_at:
                raise IdempotencyKeyInProgress(
                    f"a submission with Idempotency-Key {key!r} is still being accepted; retry shortly"
                )
            await asyncio.sleep(pause)  # the winner is enqueueing: milliseconds, as a rule
            pause = min(pause * 2, 0.2)
        return await self._submit_claimed(key, image, top_k, deadline, claim.request_id, traceparent, webhook)

    async def _submit_claimed(
        self,
        key: str,
        image: bytes,
        top_k: int,
        deadline: float | None,
        request_id: RequestId,
        traceparent: str | None,
        webhook: str | None,
    ) -> Acceptance:
        try:
            record = await self._submit(image, top_k, deadline, request_id, traceparent, webhook)
        except BaseException:
            try:
                await self._keys.release(key, request_id)
            except StoreUnavailable:  # the lease frees the key soon enough
                log.warning("could not release Idempotency-Key claim for request %s", request_id)
            raise
        try:
            confirmed = await self._keys.confirm(key, request_id, record.created_at)
        except StoreUnavailable:
            # The request is enqueued and will run: the client must learn its id. The claim's
            # lease ends, and a retry would then enqueue it again (at-least-once, as documented).
            log.warning("could not confirm Idempotency-Key claim for request %s", request_id)
            confirmed = False
        if not confirmed:
            log.warning("Idempotency-Key claim for request %s lapsed before it was confirmed", request_id)
        return Acceptance(record.request_id, record.created_at)
