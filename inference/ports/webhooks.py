"""Webhooks: the durable outbox of calls due, and the guarded sender that makes them."""

from __future__ import annotations

from abc import abstractmethod
from datetime import datetime
from typing import Protocol

from inference.domain import RequestId, RequestRecord
from inference.webhook_delivery import Webhook


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
