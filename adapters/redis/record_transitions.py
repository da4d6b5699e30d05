"""Applying transitions to records in Redis: read, apply the domain's rules, compare-and-set.

A batch costs two round trips, an MGET and one script call (`compare_and_set`), and often one:
a store remembers the last value it wrote to each record that may change again, so a worker's
outcome, written over the `processing` it wrote itself a moment ago, is computed from that
value and compared against it without reading it back. A memory that is out of date costs
nothing but a round trip: the comparison fails, and the record is read and the rule applied again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from redis.asyncio import Redis

from adapters.redis.codec import decode_record, encode_record
from adapters.redis.compare_and_set import CompareAndSet, Write
from inference.domain import RequestId, RequestRecord
from inference.errors import InvalidTransition, UnknownRequest
from inference.transitions import Transition

Outcome = RequestRecord | InvalidTransition | UnknownRequest

# Records between their start and their outcome, per store: a worker's batches in flight hold a
# few hundred at most; past this the oldest are forgotten (and read again when they change).
REMEMBERED = 4096


class RecordTransitions:
    def __init__(
        self,
        key: Callable[[RequestId], str],
        channel: Callable[[RequestId], str],
        outbox_key: str,
        ttl_ms: int,
    ) -> None:
        self._key = key
        self._channel = channel
        self._compare_and_set = CompareAndSet(outbox_key, ttl_ms)
        self._written = OwnWrites(REMEMBERED)

    async def __call__(
        self, client: Redis, transitions: Sequence[tuple[RequestId, Transition]]
    ) -> list[Outcome]:
        keys = [self._key(request_id) for request_id, _ in transitions]
        outcomes: list[Outcome | None] = [None] * len(transitions)
        # What this store last wrote to some of the records, as (value, record): the rest are read.
        believed: dict[int, tuple[bytes | str, RequestRecord]] = {
            i: known for i, key in enumerate(keys) if (known := self._written.take(key))
        }
        pending = list(range(len(transitions)))
        while pending:  # each round some writer wins, so this ends
            unread = [i for i in pending if i not in believed]
            read = (
                dict(zip(unread, await client.mget([keys[i] for i in unread]), strict=True)) if unread else {}
            )
            writes: list[tuple[int, Write, RequestRecord]] = []
            again: list[int] = []
            for i in pending:
                request_id, transition = transitions[i]
                remembered = believed.pop(i, None)
                try:
                    value, current = remembered or _read(request_id, read[i])
                    changed = current.apply(transition)
                except (InvalidTransition, UnknownRequest) as refused:
                    if remembered:  # refused on what this store last wrote: refuse only on the truth
                        again.append(i)
                    else:
                        outcomes[i] = refused
                    continue
                writes.append((i, self._write(keys[i], value, changed), changed))
            conflicts = await self._compare_and_set(client, [w for _, w, _ in writes]) if writes else set()
            for n, (i, write, changed) in enumerate(writes):
                if n in conflicts:
                    again.append(i)  # another writer was first: read it and apply the rule again
                    continue
                outcomes[i] = changed
                if not changed.status.is_terminal:  # (a terminal record changes no more)
                    self._written.remember(write.key, write.value, changed)
            pending = again
        return [outcome for outcome in outcomes if outcome is not None]

    def _write(self, key: str, expected: bytes | str, record: RequestRecord) -> Write:
        outbox = None
        if record.status.is_terminal and record.webhook is not None:
            # The outbox entry is written with the result, in the same script: a crash between
            # the two cannot lose the call (NX: a due time already set stays).
            outbox = (str(record.request_id), record.updated_at.timestamp())
        # Every change is announced with the record as stored, so a waiter needs no read
        # (long-polls wait for the terminal one, status streams for each; see waiting.recorded).
        value = encode_record(record)
        return Write(key, expected, value, self._channel(record.request_id), value, outbox)


def _read(request_id: RequestId, data: bytes | str | None) -> tuple[bytes | str, RequestRecord]:
    if data is None:
        raise UnknownRequest(f"no request {request_id} (unknown, or its result expired)")
    return data, decode_record(data)


class OwnWrites:
    """The last value this process wrote to each of up to `size` keys, with its record."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._lock = threading.Lock()  # a store may serve several threads' event loops
        self._values: dict[str, tuple[bytes | str, RequestRecord]] = {}

    def remember(self, key: str, value: bytes, record: RequestRecord) -> None:
        with self._lock:
            self._values.pop(key, None)  # to the young end
            self._values[key] = (value, record)
            if len(self._values) > self._size:
                del self._values[next(iter(self._values))]

    def take(self, key: str) -> tuple[bytes | str, RequestRecord] | None:
        """What was written to `key`, forgotten here: it is about to change."""
        with self._lock:
            return self._values.pop(key, None)
