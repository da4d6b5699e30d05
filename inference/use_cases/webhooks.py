"""The webhook dispatcher's step: call the webhooks that are due, and record how each went.

The outbox holds each webhook until it is settled, so a dispatcher that dies mid-call loses
nothing: its claims come back when their lease ends, and the call is made again (receivers
deduplicate on `webhook-id`, which stays the same across calls of one request's webhook).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import timedelta

from inference.clock import Clock, utc_now
from inference.domain import RequestRecord
from inference.errors import WebhookUnreachable, WebhookUrlForbidden
from inference.ports import WebhookOutbox, WebhookSender
from inference.webhook_delivery import Webhook, WebhookStatus
from inference.webhook_retry import Verdict, retry_delay, verdict_of

log = logging.getLogger(__name__)


class DeliverWebhooks:
    """Claim up to `max_count` due webhooks, POST each record (as `render` writes it), settle each.

    A call that delivers (2xx) settles it as delivered; one worth retrying (no answer, 408, 429,
    5xx) makes it due again after `retry_delay`, unless that is past `max_age` seconds after the
    request finished: then, as for any other answer or a forbidden address, it is failed.
    """

    def __init__(
        self,
        outbox: WebhookOutbox,
        sender: WebhookSender,
        render: Callable[[RequestRecord], bytes],
        lease: float,
        max_age: float,
        first_delay: float,
        max_delay: float,
        clock: Clock = utc_now,
        draw: Callable[[], float] = random.random,  # jitter spreads retries, it protects no secret
    ) -> None:
        self._outbox, self._sender, self._render = outbox, sender, render
        self._lease, self._max_age = lease, max_age
        self._first_delay, self._max_delay = first_delay, max_delay
        self._clock, self._draw = clock, draw

    async def __call__(self, max_count: int) -> int:
        """The number of webhooks called (0: none was due)."""
        records = await self._outbox.claim(self._clock(), self._lease, max_count)
        outcomes = await asyncio.gather(
            *(self._deliver(record) for record in records), return_exceptions=True
        )
        for record, outcome in zip(records, outcomes, strict=True):
            if isinstance(outcome, BaseException):  # settled later: its claim's lease runs out
                log.error("webhook of %s not settled: %r", record.request_id, outcome)
        return len(records)

    async def _deliver(self, record: RequestRecord) -> None:
        webhook = record.webhook
        if webhook is None:
            return  # not the outbox's kind of entry; its lease keeps it from spinning
        if not record.status.is_terminal:  # requeued since: it is due again when it ends anew
            await self._outbox.settle(record.request_id, webhook, None)
            return
        error: str | None
        try:
            status = await self._sender.send(webhook.url, str(record.request_id), self._render(record))
            verdict, error = verdict_of(status), f"HTTP {status}"
        except WebhookUrlForbidden as refused:
            verdict, error = Verdict.GIVE_UP, str(refused)
        except WebhookUnreachable as unreachable:
            verdict, error = Verdict.RETRY, str(unreachable)
        calls, now = webhook.attempts + 1, self._clock()
        if verdict is Verdict.DELIVERED:
            await self._outbox.settle(
                record.request_id, Webhook(webhook.url, WebhookStatus.DELIVERED, calls, None), None
            )
            return
        due = now + timedelta(seconds=retry_delay(calls, self._first_delay, self._max_delay, self._draw))
        finished = record.completed_at or record.updated_at
        if verdict is Verdict.RETRY and due - finished <= timedelta(seconds=self._max_age):
            await self._outbox.settle(
                record.request_id, Webhook(webhook.url, WebhookStatus.PENDING, calls, error), due
            )
            return
        log.warning("webhook of %s failed after %d call(s): %s", record.request_id, calls, error)
        await self._outbox.settle(
            record.request_id, Webhook(webhook.url, WebhookStatus.FAILED, calls, error), None
        )
