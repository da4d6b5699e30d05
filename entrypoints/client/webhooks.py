"""Receiving the service's webhooks: check a call's signature before trusting its body.

from entrypoints.client import InvalidSignature, verify_webhook

def receive(headers, body: bytes):  # in your web framework's handler, the raw body
    try:
        status = verify_webhook(SECRET, headers, body)  # SECRET: INFERENCE_WEBHOOK__SECRET
    except InvalidSignature:
        return 400
    if already_seen(headers["webhook-id"]):  # calls are at least once: deduplicate
        return 200
    handle(status)  # a Status, as Client.status gives it
    return 200
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from entrypoints.client.results import Status, status_of
from inference.signatures import TOLERANCE_SECONDS, InvalidSignature, verify


def verify_webhook(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: float = TOLERANCE_SECONDS,
) -> Status:
    """The request a webhook call describes, once its Standard Webhooks signature (made with
    `secret`, `whsec_…`) is checked and its timestamp is within `tolerance` seconds of `now`;
    InvalidSignature otherwise. Pass the body's bytes exactly as received."""
    verify(secret, headers, body, now=now, tolerance=tolerance)
    try:
        return status_of(json.loads(body))
    except (ValueError, KeyError, TypeError) as exc:  # signed, so ours: a version this client cannot read
        raise InvalidSignature(f"a signed body this client cannot read: {exc!r}") from exc


__all__ = ["InvalidSignature", "verify_webhook"]
