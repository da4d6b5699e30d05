"""The in-memory queue's dead letters, in two queues as on a broker: the dead ones (waiting for a
consumer, then taken until settled) and the parked ones (settled, kept for an operator).

Not locked by itself: `MemoryQueue` calls every method holding its own lock, so a message moves
between its queues and these in one step.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from inference.domain import InferenceRequest
from inference.ports import DeadLetter, ParkedLetter


@dataclass(frozen=True)
class _Letter:
    letter: DeadLetter
    request: InferenceRequest


class DeadLetterQueues:
    def __init__(
        self, max_parked: int, max_bytes: int, clock: Callable[[], datetime], tags: Iterator[int]
    ) -> None:
        """`tags` is the queue's own counter: one tag names one delivery or one taken letter."""
        self._max_bytes = max_bytes
        self._clock = clock
        self._tags = tags
        self._dead: deque[_Letter] = deque()
        self._dead_unacked: dict[str, _Letter] = {}
        self._parked: deque[tuple[ParkedLetter, InferenceRequest]] = deque(maxlen=max_parked)

    def __len__(self) -> int:
        return len(self._dead) + len(self._dead_unacked) + len(self._parked)

    def add(self, letter: DeadLetter, request: InferenceRequest) -> None:
        self._dead.append(_Letter(letter, request))

    def take(self, max_count: int) -> list[DeadLetter] | None:
        """Up to `max_count` waiting letters, each with a new tag; None while none wait."""
        if not self._dead:
            return None
        letters = []
        for _ in range(min(max_count, len(self._dead))):
            taken = self._dead.popleft()
            letter = replace(taken.letter, tag=str(next(self._tags)))
            self._dead_unacked[letter.tag] = _Letter(letter, taken.request)
            letters.append(letter)
        return letters

    def release(self, letter: DeadLetter, requeue: bool) -> bool:
        """Settle a taken letter: parked, or back to wait (then True: wake the consumers)."""
        taken = self._dead_unacked.pop(letter.tag, None)
        if taken is None:
            return False
        if requeue:
            self._dead.append(taken)
            return True
        parked = ParkedLetter(taken.letter.request_id, letter.failure, self._clock())  # as settled
        self._parked.append((parked, taken.request))
        # Bounded in bytes too (the images they keep), oldest out first, as in RabbitMQ.
        while sum(len(request.image) for _, request in self._parked) > self._max_bytes:
            self._parked.popleft()
        return False

    def return_taken(self) -> None:
        """The consumer is gone: what it took waits again."""
        # Oldest first at the front, so a restarted consumer resumes in order.
        self._dead.extendleft(reversed(list(self._dead_unacked.values())))
        self._dead_unacked.clear()

    # --- the operator's side ---

    def parked(self) -> list[tuple[ParkedLetter, InferenceRequest]]:
        return list(self._parked)

    def unpark(self, letter: ParkedLetter, request: InferenceRequest) -> None:
        self._parked.remove((letter, request))

    def purge(self, older_than: float | None) -> int:
        if older_than is None:
            cut = len(self._parked)
        else:
            cutoff = self._clock() - timedelta(seconds=older_than)
            cut = sum(1 for letter, _ in self._parked if letter.parked_at < cutoff)
        # Oldest first: those parked before the cutoff are at the front.
        for _ in range(cut):
            self._parked.popleft()
        return cut
