"""Webhook signatures as the Standard Webhooks specification defines them (standardwebhooks.com).

A message is signed with HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}`, sent as
`webhook-signature: v1,<base64 signature>`. The secret is written `whsec_<base64 key>` (the prefix
is optional, as in the specification's reference libraries). One implementation serves the
service, which signs, and the Python client, which verifies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping

SECRET_PREFIX = "whsec_"  # noqa: S105 (the prefix the specification gives secrets)
# The specification recommends keys of 24 to 64 bytes.
MIN_KEY_BYTES = 24
# How far a message's timestamp may be from the verifier's clock: the specification's replay window.
TOLERANCE_SECONDS = 5 * 60


class InvalidSignature(ValueError):
    """A webhook message that does not carry a valid signature of the secret's, or is too old."""


def secret_key(secret: str) -> bytes:
    """The key a `whsec_<base64>` secret (or its base64 alone) stands for; ValueError otherwise."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:  # unpadded base64 is accepted, as the reference libraries accept it
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError(f"a webhook secret is {SECRET_PREFIX}<base64>: {exc}") from None
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"a webhook secret's key should be at least {MIN_KEY_BYTES} bytes, got {len(key)}")
    return key


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,` and the base64 HMAC-SHA256 of the signed content."""
    content = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def signed_headers(key: bytes, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(key, message_id, timestamp, body),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    now: float | None = None,
    tolerance: float = TOLERANCE_SECONDS,
) -> None:
    """Return if `body` with `headers` is a message signed with `secret`, sent within `tolerance`
    seconds of `now`; raise InvalidSignature otherwise. Header names are matched in any case."""
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        message_id, sent = lowered["webhook-id"], lowered["webhook-timestamp"]
        offered = lowered["webhook-signature"]
    except KeyError as missing:
        raise InvalidSignature(f"no {missing.args[0]} header") from None
    try:
        timestamp = int(sent)
    except ValueError:
        raise InvalidSignature(f"webhook-timestamp {sent!r} is not a number of seconds") from None
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise InvalidSignature(f"webhook-timestamp {timestamp} is more than {tolerance} s from now")
    expected = signature(secret_key(secret), message_id, timestamp, body)
    # A header may carry several signatures (during a key rotation), space-separated.
    if not any(hmac.compare_digest(expected.encode(), candidate.encode()) for candidate in offered.split()):
        raise InvalidSignature("no signature in webhook-signature matches the secret")
