"""Where records live: the one place status transitions are applied, and waited for."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from inference.domain import RequestId, RequestRecord
from inference.errors import InvalidTransition, UnknownRequest
from inference.transitions import Transition


class TerminalWatch(Protocol):
    """An ear on one request, open since before the request was stored (`watch_terminal`)."""

    @abstractmethod
    async def terminal_within(self, timeout: float) -> RequestRecord | None:
        """The record once it is terminal, if that is within `timeout` seconds; else None.

        Unlike `wait_for_terminal`, it need not read the record first: nothing can have changed
        it unheard. Returns promptly (well within 50 ms) after the terminal transition. Raises
        StoreUnavailable if the store fails while it waits.
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
    def watch_terminal(self, request_id: RequestId) -> AbstractAsyncContextManager[TerminalWatch]:
        """Hear `request_id`'s transitions from the moment this is entered until it is left.

        Entered before the request is added, it spares a waiting submitter the read that
        `wait_for_terminal` starts with (one round trip to the store per request). Raises
        StoreUnavailable on entering if the store cannot listen now.
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
