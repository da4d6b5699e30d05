"""The worker's other use case: settle dead letters, marking their requests failed.

It keeps the delivery rule: a letter is released (parked, for an operator to inspect, requeue
or purge: `inference dlq`) only once its request's failure is stored.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, replace

from inference.clock import Clock, utc_now
from inference.errors import InvalidTransition, StoreUnavailable
from inference.ports import DeadLetter, DeadLetters, ResultStore
from inference.transitions import Fail

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeadLetterReport:
    released: int = 0  # its request is marked failed (or was already terminal): the letter is parked
    requeued: int = 0  # the store was down: the letters wait in the dead-letter queue


class SettleDeadLetters:
    """Mark the request of each dead letter failed, then park the letter.

    A letter whose request is already finished, expired, or unnamed is released as it is; one
    whose failure cannot be stored (the store is down) goes back to the dead-letter queue.
    """

    def __init__(self, dead_letters: DeadLetters, store: ResultStore, clock: Clock = utc_now) -> None:
        self._dead_letters = dead_letters
        self._store = store
        self._clock = clock

    async def __call__(self, max_count: int, wait: float) -> DeadLetterReport:
        """Settle up to `max_count` letters, waiting up to `wait` seconds for a first one."""
        tally: Counter[str] = Counter()
        for letter in await self._dead_letters.receive_dead_letters(max_count, wait):
            try:
                letter = await self._fail(letter)
            except StoreUnavailable:
                await self._dead_letters.release_dead_letter(letter, requeue=True)
                tally["requeued"] += 1
                continue
            log.info("dead letter settled: request %s, %s", letter.request_id, letter.failure.code)
            await self._dead_letters.release_dead_letter(letter, requeue=False)
            tally["released"] += 1
        return DeadLetterReport(tally["released"], tally["requeued"])

    async def _fail(self, letter: DeadLetter) -> DeadLetter:
        """The letter, with its request's stored failure if it had one already (a worker that
        ran out of attempts stores why before it dead-letters: the parked letter says the same)."""
        if letter.request_id is None:
            return letter
        # A request that finished after all, or expired, keeps what its client can read: the
        # store answers InvalidTransition or UnknownRequest for it, and there is nothing to do.
        [outcome] = await self._store.transition([(letter.request_id, Fail(letter.failure, self._clock()))])
        if isinstance(outcome, InvalidTransition) and outcome.current.failure is not None:
            return replace(letter, failure=outcome.current.failure)
        return letter
