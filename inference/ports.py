"""The ports: what the core needs from the outside world, and the semantics every adapter keeps.

Only domain types cross these boundaries. Each docstring states what the contract tests check.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from inference.domain import (
    Failure,
    ImageHeader,
    InferenceRequest,
    ModelInfo,
    Prediction,
    RequestId,
    RequestRecord,
    Transition,
    Webhook,
    WorkerInfo,
)
from inference.errors import InvalidTransition, UnknownRequest
from inference.timings import BatchTimings


class Classifier(Protocol):
    @property
    @abstractmethod
    def model(self) -> ModelInfo:
        """Name, version, labels and input size of the loaded model."""

    @abstractmethod
    def classify(self, batch: Sequence[InferenceRequest]) -> list[Prediction | Failure]:
        """One outcome per request, in order, computed as one batch.

        A request whose image cannot be decoded yields a Failure with code "invalid_image" (or
        "image_too_large" past the classifier's pixel limit), quickly; the rest of the batch is
        unaffected. Only the first frame of an animation is decoded. Each Prediction's scores
        hold min(top_k, number of labels) labels sorted by probability, best first. Blocking
        and CPU-bound: callers run it off their event loop.
        """

    def classify_timed(
        self, batch: Sequence[InferenceRequest]
    ) -> tuple[list[Prediction | Failure], BatchTimings | None]:
        """`classify`, and how long the batch took to preprocess and to run through the model;
        None from a classifier that cannot tell (this default)."""
        return self.classify(batch), None


class ImageInspector(Protocol):
    @abstractmethod
    def inspect(self, image: bytes, max_frames: int) -> ImageHeader:
        """The image's header: media type, width, height and frames, without decoding a pixel.

        The media type is the one `sniff_media_type` gives, and the bytes are read as that format
        and no other. Width, height and frames are at least 1; frames are counted no further
        than `max_frames + 1`, which stands for any more, so the work stays bounded whatever the
        file holds. The caller applies the limits.

        Raises EmptyImage or UnsupportedImage as `sniff_media_type` does, ImageTooLarge for a
        size the reader itself refuses to handle, and InvalidImage for a header it cannot read or
        a file that would ask a decoder for far more work than its size (an adapter's own bounds,
        such as the scans of a progressive JPEG); never another exception. CPU-bound but bounded
        whatever the bytes: callers run it off their event loop.
        """

    @abstractmethod
    def inspect_quickly(self, image: bytes, max_frames: int) -> ImageHeader | None:
        """`inspect` within a small fixed amount of work whatever the bytes, so that an event
        loop may call it; None when the image needs more work than that (a file of countless
        segments, frames that must be walked, anything to decompress): the caller then runs
        `inspect` off its loop. Raises as `inspect` does for what it finds within its budget,
        and returns what `inspect` would.
        """


def last_attempt(max_attempts: int) -> int:
    """The most deliveries a queue makes of one message: one more than a worker's attempts.

    A worker that receives a request's attempt `max_attempts + 1` records its failure
    (AttemptsExhausted) instead of running it again; a message rejected or abandoned even then
    (a worker that crashes on it every time) is dead-lettered by the queue.
    """
    return max_attempts + 1


@dataclass(frozen=True)
class Delivery:
    """A request handed to a consumer, to be acknowledged or rejected exactly once.

    `attempt` counts deliveries of this message, 1 for the first. A broker that prefetches
    also counts a delivery to a consumer that closed before handing it out, so attempts may run
    ahead of what `receive` returned, never behind.
    """

    tag: str
    request: InferenceRequest
    attempt: int


@dataclass(frozen=True)
class DeadLetter:
    """A message the queue gave up on: attempted too often, or not a request it could read.

    `request_id` is None when the message does not even name a request. `failure` says why,
    in the words the request's client will read.
    """

    tag: str
    request_id: RequestId | None
    failure: Failure


@dataclass(frozen=True)
class ParkedLetter:
    """A dead letter kept for an operator: why it failed and since when it is parked.

    `request_id` is None for a message that did not even name a request (it can only be purged).
    """

    request_id: RequestId | None
    failure: Failure
    parked_at: datetime


class DeadLetterAdmin(Protocol):
    """The operator's side of the parked dead letters (`inference dlq`)."""

    @abstractmethod
    async def parked(self) -> list[ParkedLetter]:
        """Every parked letter, oldest first. Reading takes nothing away and counts no attempt:
        the same list reads the same twice."""

    @abstractmethod
    async def requeue(self, request_ids: Collection[RequestId]) -> list[RequestId]:
        """Publish the parked letters of `request_ids` again as new requests (image and
        metadata as they were, attempt 1 at their next delivery), each confirmed before its
        letter leaves the parked ones; the ids requeued, oldest first. An id not parked is
        skipped. Raises Overloaded when the queue is full and QueueUnavailable when the broker
        cannot be reached; what was requeued until then stays requeued."""

    @abstractmethod
    async def purge(self, older_than: float | None) -> int:
        """Remove the letters parked more than `older_than` seconds ago (all with None); how
        many were removed."""


class Publisher(Protocol):
    """The API's side of the queue."""

    @abstractmethod
    async def publish(self, request: InferenceRequest) -> None:
        """Return only once the request is safely enqueued (persisted and confirmed).

        Raises Overloaded when the queue is at its bound, QueueUnavailable when the broker
        cannot be reached or does not confirm in time. Never drops other messages to make room.
        """

    @abstractmethod
    async def ping(self) -> None:
        """Return if the queue can take work now, else raise QueueUnavailable."""


class Consumer(Protocol):
    """The worker's side of the queue."""

    @abstractmethod
    async def receive(self, max_count: int, fill_wait: float, idle_wait: float) -> list[Delivery]:
        """Up to `max_count` deliveries, oldest first.

        Waits up to `idle_wait` seconds for a first delivery (returning [] if none comes), then
        up to `fill_wait` seconds more for the batch to fill. Each delivery stays invisible to
        other consumers until it is acknowledged or rejected. A message is delivered at most
        `last_attempt(max_attempts)` times; one that cannot be read as a request is never
        delivered (it is dead-lettered).
        """

    @abstractmethod
    async def ack(self, delivery: Delivery) -> None:
        """Remove the delivery from the queue for good."""

    @abstractmethod
    async def reject(self, delivery: Delivery, requeue: bool) -> None:
        """Give the delivery back: delivered again (attempt + 1) if `requeue` and attempts
        remain, else dead-lettered."""

    @abstractmethod
    async def close(self) -> None:
        """Stop consuming: every delivery not yet acknowledged will come again."""


class DeadLetters(Protocol):
    """The dead-letter loop's side of the queue."""

    @abstractmethod
    async def receive_dead_letters(self, max_count: int, wait: float) -> list[DeadLetter]:
        """Up to `max_count` dead letters, waiting up to `wait` seconds for a first one.

        A message is dead-lettered when it is rejected without requeue, rejected or abandoned
        on its last attempt, or cannot be read as a request. Each stays invisible to others
        until released.
        """

    @abstractmethod
    async def release_dead_letter(self, letter: DeadLetter, requeue: bool) -> None:
        """Park the dead letter (it stays for `DeadLetterAdmin` to list, requeue or purge, and
        is never received here again), or (`requeue`) give it back to be received again.

        Parking keeps the message's image and metadata and completes (confirmed) before the
        letter leaves the dead-letter queue. The parked letters are bounded: past the bound the
        oldest goes, its request's failure being stored already.
        """


class ResultStore(Protocol):
    @abstractmethod
    async def add(self, record: RequestRecord) -> bool:
        """Store a new record with the store's time-to-live; False (and no change) if one exists."""

    @abstractmethod
    async def get(self, request_id: RequestId) -> RequestRecord:
        """The record, or raise UnknownRequest if there is none or it expired."""

    @abstractmethod
    async def transition(
        self, transitions: Sequence[tuple[RequestId, Transition]]
    ) -> list[RequestRecord | InvalidTransition | UnknownRequest]:
        """Apply each transition with `RequestRecord.apply`'s rules, in one round trip where
        the store can (a worker's batch is one call).

        Per pair, in order: the record after it; InvalidTransition (carrying the current record,
        which is left untouched) for a terminal one, so a redelivery never overwrites a result;
        or UnknownRequest for a missing record. Each pair is atomic; an id appears at most once;
        every write renews the time-to-live. StoreUnavailable fails the whole call, after which
        some pairs may have been applied (transitions are idempotent where it matters: a retried
        outcome finds its request terminal).
        """

    @abstractmethod
    async def wait_for_terminal(self, request_id: RequestId, timeout: float) -> RequestRecord:
        """The record once it is terminal, or as it stands after `timeout` seconds.

        Returns promptly (well within 50 ms) after a terminal transition, whoever applied it,
        and wakes no waiter of another request. Raises UnknownRequest if there is no record.
        """

    @abstractmethod
    async def wait_for_change(
        self, request_id: RequestId, seen: RequestRecord | None, timeout: float
    ) -> RequestRecord:
        """The record once it differs from `seen` (at once if it already does, or `seen` is
        None), or as it stands after `timeout` seconds.

        Returns promptly (well within 50 ms) after any transition, whoever applied it, and wakes
        no waiter of another request. Raises UnknownRequest if there is no record.
        """

    @abstractmethod
    async def delete(self, request_id: RequestId) -> None:
        """Forget the record if it exists."""

    @abstractmethod
    async def ping(self) -> None:
        """Return if the store answers now, else raise StoreUnavailable."""


class WorkerRegistry(Protocol):
    """Who is alive: each worker beats at least every `ttl / 3` seconds, and one that stops
    beating (killed, frozen, partitioned) drops out of `live` within the registry's `ttl`."""

    @abstractmethod
    async def heartbeat(self, worker: WorkerInfo) -> None:
        """Record `worker` as live for the registry's `ttl` seconds from now, replacing what its
        id held (its `last_batch_at`, say) and stamping `seen_at` with the time now. Raises
        StoreUnavailable when the registry cannot be reached."""

    @abstractmethod
    async def deregister(self, worker_id: str) -> None:
        """Drop the worker from `live` at once (a graceful stop); nothing if it is not there."""

    @abstractmethod
    async def live(self) -> list[WorkerInfo]:
        """Every worker whose latest heartbeat is less than `ttl` seconds old, each once, sorted
        by id, as its heartbeat described it (with `seen_at`). Reading costs the same whatever
        else the registry's server holds (no scan of its whole key space). Raises
        StoreUnavailable when the registry cannot be reached."""


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


class WebhookOutbox(Protocol):
    """The webhooks due to be called: durable work the result store writes.

    A `ResultStore.transition` that makes a record with a webhook terminal adds it here in the
    same atomic write (a crash between the result and the call loses nothing); it stays until
    `settle` removes it.
    """

    @abstractmethod
    async def claim(self, now: datetime, lease: float, max_count: int) -> list[RequestRecord]:
        """Up to `max_count` records whose webhook is due at `now`, earliest due first.

        Each is hidden from other claims for `lease` seconds, then due again unless settled, so
        a claimer that dies loses nothing and several may run at once. An entry whose record
        has expired is dropped.
        """

    @abstractmethod
    async def settle(self, request_id: RequestId, webhook: Webhook, due: datetime | None) -> None:
        """Store `webhook` (its delivery state) on the record, whose status and outcome stay as
        they are, and make it due again at `due`, or (None) remove it from the outbox for good.
        A record that has expired is only removed."""


class WebhookSender(Protocol):
    """The HTTP calls of webhooks, guarded against reaching what the service must not."""

    @abstractmethod
    async def check(self, url: str) -> None:
        """Return if `url` may be called: http or https, a host that resolves, and every address
        it resolves to allowed. Raises InvalidWebhookUrl or WebhookUrlForbidden otherwise."""

    @abstractmethod
    async def send(self, url: str, message_id: str, body: bytes) -> int:
        """POST the signed JSON `body` to `url` and return the HTTP status; `check`s again and
        connects to the address it checked, follows no redirect, and reads a bounded answer.

        Raises WebhookUrlForbidden as `check` does, WebhookUnreachable when no answer came
        (refused, reset, timed out). Never another exception.
        """
