"""Webhook signatures as the Standard Webhooks specification defines them."""

from __future__ import annotations

import base64

import pytest

from inference.signatures import InvalidSignature, secret_key, signature, signed_headers, verify

# The specification's own example (its reference libraries test against it).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID, SPEC_TIMESTAMP = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()


def test_the_signature_of_the_specifications_example_is_the_one_it_publishes() -> None:
    assert signature(secret_key(SPEC_SECRET), SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_the_specifications_example_verifies_at_its_time() -> None:
    headers = {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TIMESTAMP),
        "webhook-signature": SPEC_SIGNATURE,
    }
    verify(SPEC_SECRET, headers, SPEC_BODY, now=SPEC_TIMESTAMP + 10)


def test_a_signed_message_verifies_with_headers_in_any_case() -> None:
    headers = signed_headers(secret_key(SECRET), "abc", 1_700_000_000, b"{}")
    verify(SECRET, {name.title(): value for name, value in headers.items()}, b"{}", now=1_700_000_000)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda h, b: (h, b + b" "), "no signature"),
        (lambda h, b: ({**h, "webhook-id": "other"}, b), "no signature"),
        (lambda h, b: ({**h, "webhook-timestamp": "1700000001"}, b), "no signature"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b), "no webhook-signature"),
        (lambda h, b: ({**h, "webhook-timestamp": "soon"}, b), "not a number"),
        (lambda h, b: ({**h, "webhook-signature": "v1,bm9wZQ=="}, b), "no signature"),
        (lambda h, b: ({**h, "webhook-signature": "v1,é"}, b), "no signature"),
    ],
)
def test_a_message_changed_in_any_way_is_refused(change, why) -> None:  # type: ignore[no-untyped-def]
    headers, body = change(signed_headers(secret_key(SECRET), "abc", 1_700_000_000, b"{}"), b"{}")
    with pytest.raises(InvalidSignature, match=why):
        verify(SECRET, headers, body, now=1_700_000_000)


def test_a_message_older_than_five_minutes_is_refused_as_a_replay() -> None:
    headers = signed_headers(secret_key(SECRET), "abc", 1_700_000_000, b"{}")
    verify(SECRET, headers, b"{}", now=1_700_000_000 + 299)
    with pytest.raises(InvalidSignature, match="from now"):
        verify(SECRET, headers, b"{}", now=1_700_000_000 + 301)


def test_one_matching_signature_among_several_is_enough_as_during_a_key_rotation() -> None:
    headers = signed_headers(secret_key(SECRET), "abc", 1_700_000_000, b"{}")
    headers["webhook-signature"] = f"v1,b2xk {headers['webhook-signature']}"
    verify(SECRET, headers, b"{}", now=1_700_000_000)


def test_a_secret_is_base64_with_or_without_its_prefix_or_padding_and_long_enough() -> None:
    key = bytes(range(24))
    encoded = base64.b64encode(key).decode()
    assert secret_key(f"whsec_{encoded}") == secret_key(encoded) == key
    assert secret_key("whsec_" + base64.b64encode(bytes(25)).decode().rstrip("=")) == bytes(25)
    with pytest.raises(ValueError, match="base64"):
        secret_key("whsec_not base64!")
    with pytest.raises(ValueError, match="at least 24 bytes"):
        secret_key("whsec_" + base64.b64encode(bytes(16)).decode())
