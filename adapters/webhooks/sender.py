"""Webhook calls over httpx: signed, pinned to the checked address, bounded in time and size."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Sequence

import httpx

from adapters.webhooks.addresses import AddressPolicy, Resolver
from inference.errors import WebhookUnreachable
from inference.ports import WebhookSender
from inference.signatures import signed_headers

USER_AGENT = "inference-service-webhooks/1"


class HttpxWebhookSender(WebhookSender):
    """POSTs with the Standard Webhooks headers signed by `key`.

    Each call checks the URL's host again (`AddressPolicy`) and connects to the address it
    checked, with the name in `Host` (and as TLS SNI, against which the certificate is verified):
    a DNS answer changed since cannot redirect it. Redirects are not followed (a 3xx is an
    answer, and not a 2xx), proxies from the environment are ignored, and at most
    `max_response_bytes` of the answer are read; the whole call ends within `connect_timeout +
    read_timeout` seconds.
    """

    def __init__(
        self,
        key: bytes,
        allowed_networks: Sequence[str],
        resolver: Resolver,
        connect_timeout: float,
        read_timeout: float,
        max_response_bytes: int,
    ) -> None:
        self._key = key
        self._policy = AddressPolicy(allowed_networks, resolver, connect_timeout)
        self._timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self._deadline = connect_timeout + read_timeout
        self._max_response_bytes = max_response_bytes

    async def check(self, url: str) -> None:
        await self._policy.checked(url)

    async def send(self, url: str, message_id: str, body: bytes) -> int:
        parts, address = await self._policy.checked(url)
        host = parts.hostname or ""
        literal = f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else str(address)
        pinned = parts._replace(netloc=f"{literal}:{parts.port}" if parts.port else literal).geturl()
        headers = {
            **signed_headers(self._key, message_id, int(time.time()), body),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "host": f"{host}:{parts.port}" if parts.port else host,
        }
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        try:
            async with (
                asyncio.timeout(self._deadline),
                httpx.AsyncClient(timeout=self._timeout, follow_redirects=False, trust_env=False) as client,
                client.stream("POST", pinned, headers=headers, content=body, extensions=extensions) as answer,
            ):
                await self._drain(answer)
                return answer.status_code
        except (httpx.HTTPError, OSError) as exc:  # TimeoutError is an OSError
            raise WebhookUnreachable(f"no answer: {type(exc).__name__} {exc}".strip()) from exc

    async def _drain(self, answer: httpx.Response) -> None:
        # Read (the connection is reused cleanly) but only so much: the body is never used.
        read = 0
        async for chunk in answer.aiter_raw():
            read += len(chunk)
            if read >= self._max_response_bytes:
                break
