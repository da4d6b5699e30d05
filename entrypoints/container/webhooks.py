"""The webhook sender, when this process has a secret to sign with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import SecretStr

from adapters.webhooks import HttpxWebhookSender, system_resolver
from inference.signatures import secret_key


def sender(
    secret: SecretStr | None,
    allowed_networks: Sequence[str],
    connect_timeout: float,
    read_timeout: float,
    max_response_bytes: int,
) -> HttpxWebhookSender | None:
    """None without a secret: the API then refuses webhooks, and a worker calls none."""
    if secret is None:
        return None
    return HttpxWebhookSender(
        key=secret_key(secret.get_secret_value()),
        allowed_networks=allowed_networks,
        resolver=system_resolver,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_response_bytes=max_response_bytes,
    )


@dataclass(frozen=True)
class Signing:
    """This process's webhook sender, or None. What the container keeps as a Singleton, rather
    than the sender itself: dependency-injector's Singleton caches no None, and called `sender`
    again on every submission (5 µs each) in a process without a secret."""

    sender: HttpxWebhookSender | None


def signing(
    secret: SecretStr | None,
    allowed_networks: Sequence[str],
    connect_timeout: float,
    read_timeout: float,
    max_response_bytes: int,
) -> Signing:
    return Signing(sender(secret, allowed_networks, connect_timeout, read_timeout, max_response_bytes))
