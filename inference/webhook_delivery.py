"""A request's webhook and how its delivery is going: part of the record, apart from its outcome
(a delivery is no transition, so it never touches a terminal record's status)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class WebhookStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True)
class Webhook:
    """The URL a request's terminal record is sent to, and how that delivery is going.

    `attempts` counts calls of the URL (not a request's attempts, which count deliveries to a
    worker); `last_error` says why the latest call did not deliver.
    """

    url: str
    status: WebhookStatus = WebhookStatus.PENDING
    attempts: int = 0
    last_error: str | None = None
