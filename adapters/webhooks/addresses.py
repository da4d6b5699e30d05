"""Which addresses a webhook may reach: the SSRF guard, checked at submit and again at each call.

A webhook URL is chosen by whoever submits a request, and the service calls it from inside its
network: without this guard, a client could make it call a database's HTTP port, an admin page
on localhost, or a cloud's metadata service (and its credentials). Every address a host resolves
to must be public (or on a network the operator allowed), and the call goes to the address that
was checked, so a DNS answer that changes between check and call (rebinding) gains nothing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import SplitResult, urlsplit

from inference.errors import InvalidWebhookUrl, WebhookUrlForbidden

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port → the addresses it resolves to, as text
Resolver = Callable[[str, int], Awaitable[list[str]]]

MAX_URL_LENGTH = 2048
# Cloud metadata services (AWS, GCP, Azure, and AWS's IPv6 one): link-local or private already,
# named so that no allowed network can let them through by accident.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254"))


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system's resolver gives for `host` (getaddrinfo, off the event loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]).split("%", 1)[0] for info in infos]  # no IPv6 zone id


class AddressPolicy:
    """Public addresses, and those in `allowed_networks` (CIDRs), but never a metadata service's."""

    def __init__(self, allowed_networks: Sequence[str], resolver: Resolver, timeout: float) -> None:
        self._allowed = [ipaddress.ip_network(network, strict=False) for network in allowed_networks]
        self._resolve, self._timeout = resolver, timeout

    def allows(self, address: IPAddress) -> bool:
        if address in METADATA_ADDRESSES:
            return False
        if any(address in network for network in self._allowed):
            return True
        # An IPv6 address that carries an IPv4 one (mapped, 6to4) is judged by the IPv4 one too.
        embedded = (
            [address.ipv4_mapped, address.sixtofour] if isinstance(address, ipaddress.IPv6Address) else []
        )
        if any(inner is not None and not self.allows(inner) for inner in embedded):
            return False
        return address.is_global and not address.is_multicast

    async def checked(self, url: str) -> tuple[SplitResult, IPAddress]:
        """The URL's parts and the address to call it at; InvalidWebhookUrl or
        WebhookUrlForbidden if it may not be called."""
        parts = _parsed(url)
        host = parts.hostname or ""
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:  # a name, not an address literal
            addresses = await self._resolved(host, parts.port or _default_port(parts.scheme))
        refused = [address for address in addresses if not self.allows(address)]
        if refused:
            raise WebhookUrlForbidden(
                f"the webhook's host {host} resolves to {refused[0]}, an address the service does not "
                "call (loopback, private, link-local, multicast, reserved or a metadata service)"
            )
        return parts, addresses[0]

    async def _resolved(self, host: str, port: int) -> list[IPAddress]:
        try:
            async with asyncio.timeout(self._timeout):
                found = await self._resolve(host, port)
            addresses = [ipaddress.ip_address(address) for address in found]
        except (OSError, TimeoutError, ValueError) as exc:  # socket.gaierror is an OSError
            raise InvalidWebhookUrl(f"the webhook's host {host} does not resolve ({exc})") from None
        if not addresses:
            raise InvalidWebhookUrl(f"the webhook's host {host} resolves to no address")
        return addresses


def _parsed(url: str) -> SplitResult:
    if len(url) > MAX_URL_LENGTH:
        raise InvalidWebhookUrl(f"a webhook URL has at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (parsing the port is the check)
    except ValueError as exc:
        raise InvalidWebhookUrl(f"the webhook {url!r} is not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidWebhookUrl(f"the webhook {url!r} is not an http:// or https:// URL with a host")
    return parts


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80
