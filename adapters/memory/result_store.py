"""A bounded, thread-safe in-memory result store with time-to-live and atomic transitions, and
the webhook outbox its transitions write to under the same lock."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from adapters.wakeup import WakeUp
from inference.domain import RequestId, RequestRecord
from inference.errors import InvalidTransition, StoreUnavailable, UnknownRequest
from inference.ports import ResultStore, TerminalWatch, WebhookOutbox
from inference.transitions import Transition
from inference.webhook_delivery import Webhook, WebhookStatus


class MemoryResultStore(ResultStore, WebhookOutbox):
    """Records live `ttl` seconds from their last write; at most `max_records` at once. A
    transition that makes a record with a webhook terminal makes its webhook due at once.

    Records are immutable values, so handing them out is as safe as copying them.
    """

    def __init__(self, ttl: float, max_records: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._max_records = max_records
        self._clock = clock
        self._lock = threading.Lock()
        self._records: dict[RequestId, tuple[RequestRecord, float]] = {}
        self._changes = WakeUp(self._lock)
        self._due: dict[RequestId, datetime] = {}  # the outbox: when each webhook is due

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
                if record.status.is_terminal and record.webhook is not None:
                    self._due.setdefault(request_id, record.updated_at)
                results.append(record)
        return results

    async def wait_for_terminal(self, request_id: RequestId, timeout: float) -> RequestRecord:
        def terminal() -> RequestRecord | None:
            record = self._require(request_id)
            return record if record.status.is_terminal else None

        found = await self._changes.wait_for(terminal, timeout, key=request_id)
        return found if found is not None else await self.get(request_id)

    @asynccontextmanager
    async def watch_terminal(self, request_id: RequestId) -> AsyncIterator[TerminalWatch]:
        yield _Watch(self, request_id)  # waits read the record as it stands: none is missed

    async def wait_for_change(
        self, request_id: RequestId, seen: RequestRecord | None, timeout: float
    ) -> RequestRecord:
        def changed() -> RequestRecord | None:
            record = self._require(request_id)
            return record if record != seen else None

        found = await self._changes.wait_for(changed, timeout, key=request_id)
        return found if found is not None else await self.get(request_id)

    async def claim(self, now: datetime, lease: float, max_count: int) -> list[RequestRecord]:
        claimed: list[RequestRecord] = []
        with self._lock:
            for request_id, due in sorted(self._due.items(), key=lambda entry: entry[1]):
                if len(claimed) == max_count or due > now:
                    break
                record = self._live(request_id)
                if record is None:
                    del self._due[request_id]
                    continue
                self._due[request_id] = now + timedelta(seconds=lease)
                claimed.append(record)
        return claimed

    async def settle(self, request_id: RequestId, webhook: Webhook, due: datetime | None) -> None:
        with self._lock:
            record = self._live(request_id)
            current = None if record is None else record.webhook
            if record is None or current is None or current.status is not WebhookStatus.PENDING:
                self._due.pop(request_id, None)  # expired, or settled for good by another claimer
                return
            # A delivery's state is no write of the record's: it keeps the expiry it had.
            self._records[request_id] = (record.with_webhook(webhook), self._records[request_id][1])
            self._changes.fire(request_id)
            if due is None:
                self._due.pop(request_id, None)
            else:
                self._due[request_id] = due

    async def delete(self, request_id: RequestId) -> None:
        with self._lock:
            self._records.pop(request_id, None)
            self._due.pop(request_id, None)

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


class _Watch(TerminalWatch):
    def __init__(self, store: MemoryResultStore, request_id: RequestId) -> None:
        self._store, self._request_id = store, request_id

    async def terminal_within(self, timeout: float) -> RequestRecord | None:
        try:
            record = await self._store.wait_for_terminal(self._request_id, timeout)
        except UnknownRequest:  # never added (the submission failed), or expired meanwhile
            return None
        return record if record.status.is_terminal else None
