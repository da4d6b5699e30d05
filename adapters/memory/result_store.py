"""A bounded, thread-safe in-memory result store with time-to-live and atomic transitions."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from adapters.wakeup import WakeUp
from inference.domain import RequestId, RequestRecord, Transition
from inference.errors import InvalidTransition, StoreUnavailable, UnknownRequest
from inference.ports import ResultStore


class MemoryResultStore(ResultStore):
    """Records live `ttl` seconds from their last write; at most `max_records` at once.

    Records are immutable values, so handing them out is as safe as copying them.
    """

    def __init__(self, ttl: float, max_records: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._max_records = max_records
        self._clock = clock
        self._lock = threading.Lock()
        self._records: dict[RequestId, tuple[RequestRecord, float]] = {}
        self._changes = WakeUp(self._lock)

    async def add(self, record: RequestRecord) -> bool:
        with self._lock:
            if self._live(record.request_id) is not None:
                return False
            if len(self._records) >= self._max_records:
                self._purge_expired()
                if len(self._records) >= self._max_records:
                    raise StoreUnavailable(f"the store holds its maximum of {self._max_records} records")
            self._write(record)
            return True

    async def get(self, request_id: RequestId) -> RequestRecord:
        with self._lock:
            return self._require(request_id)

    async def transition(
        self, transitions: Sequence[tuple[RequestId, Transition]]
    ) -> list[RequestRecord | InvalidTransition | UnknownRequest]:
        results: list[RequestRecord | InvalidTransition | UnknownRequest] = []
        with self._lock:
            for request_id, transition in transitions:
                try:
                    record = self._require(request_id).apply(transition)
                except (InvalidTransition, UnknownRequest) as refused:
                    results.append(refused)
                    continue
                self._write(record)
                results.append(record)
        return results

    async def wait_for_terminal(self, request_id: RequestId, timeout: float) -> RequestRecord:
        def terminal() -> RequestRecord | None:
            record = self._require(request_id)
            return record if record.status.is_terminal else None

        found = await self._changes.wait_for(terminal, timeout, key=request_id)
        return found if found is not None else await self.get(request_id)

    async def delete(self, request_id: RequestId) -> None:
        with self._lock:
            self._records.pop(request_id, None)

    async def ping(self) -> None:
        return None

    def _write(self, record: RequestRecord) -> None:
        self._records[record.request_id] = (record, self._clock() + self._ttl)
        self._changes.fire(record.request_id)

    def _live(self, request_id: RequestId) -> RequestRecord | None:
        entry = self._records.get(request_id)
        if entry is None:
            return None
        record, expires_at = entry
        if expires_at <= self._clock():
            del self._records[request_id]
            return None
        return record

    def _require(self, request_id: RequestId) -> RequestRecord:
        record = self._live(request_id)
        if record is None:
            raise UnknownRequest(f"no request {request_id} (unknown, or its result expired)")
        return record

    def _purge_expired(self) -> None:
        now = self._clock()
        for request_id in [k for k, (_, exp) in self._records.items() if exp <= now]:
            del self._records[request_id]
