"""The webhooks' section (`INFERENCE_WEBHOOK__*`): signing, the SSRF guard's exceptions, retries."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    SecretStr,
)

from entrypoints.settings.fields import CommaSeparated
from inference.signatures import secret_key


def _webhook_secret(secret: SecretStr | None) -> SecretStr | None:
    if secret is not None:
        secret_key(secret.get_secret_value())  # ValueError names what is wrong with it
    return secret


def _networks(networks: list[str]) -> list[str]:
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ValueError(f"{network!r} is not a network in CIDR form (10.0.0.0/8, fd00::/8)") from None
    return networks


def _unset_if_empty(value: object) -> object:
    # An empty variable (compose's `${INFERENCE_WEBHOOK__SECRET:-}`) means none.
    return None if value == "" else value


class WebhookSettings(BaseModel):
    secret: Annotated[SecretStr | None, BeforeValidator(_unset_if_empty), AfterValidator(_webhook_secret)] = (
        Field(
            None,
            description="Signs webhooks (Standard Webhooks: whsec_<base64 of 24-64 random bytes>); "
            "none: POSTs naming a webhook get 422.",
        )
    )
    allowed_networks: Annotated[CommaSeparated, AfterValidator(_networks)] = Field(
        default_factory=list,
        description="CIDRs a webhook may reach although not public (the SSRF guard refuses the rest).",
    )
    dispatch: bool = Field(
        True, description="This worker (or embedded service) calls the webhooks that are due."
    )
    connect_timeout_seconds: float = Field(5, gt=0, description="Resolving and connecting to a webhook.")
    read_timeout_seconds: float = Field(10, gt=0, description="Waiting for a webhook's answer.")
    max_response_bytes: int = Field(64 * 1024, ge=1, description="Most bytes of an answer read.")
    max_age_seconds: float = Field(
        24 * 3600, gt=0, description="Retries stop this long after the request finished: failed."
    )
    first_retry_seconds: float = Field(1, gt=0, description="Bound of the first retry's wait (doubling).")
    max_retry_seconds: float = Field(3600, gt=0, description="Bound of any retry's wait.")
    lease_seconds: float = Field(
        60, gt=0, description="A claimed webhook is due again this long after, if its caller died."
    )
    batch_size: int = Field(16, ge=1, description="Webhooks a dispatcher calls at once.")
    poll_seconds: float = Field(1, gt=0, description="How often an idle dispatcher looks for due webhooks.")
