"""The SSRF guard: which webhook URLs the service refuses to call, and the networks that let one in."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from adapters.webhooks import AddressPolicy
from inference.errors import InvalidWebhookUrl, WebhookUrlForbidden

NAMES = {
    "hooks.example.com": ["93.184.215.14"],
    "inside.example.com": ["10.1.2.3"],
    "mixed.example.com": ["93.184.215.14", "192.168.0.7"],
    "v6.example.com": ["2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
}


async def resolver(host: str, port: int) -> list[str]:
    if host not in NAMES:
        raise OSError(f"unknown host {host}")
    return NAMES[host]


def check(url: str, allowed: tuple[str, ...] = ()) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return asyncio.run(AddressPolicy(allowed, resolver, timeout=1.0).checked(url))[1]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://inside.example.com/hook",  # a name that resolves to 10.x
        "http://mixed.example.com/hook",  # one private address among public ones is enough
        "http://0.0.0.0/",
        "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
        "http://[fd00:ec2::254]/",
        "http://224.0.0.1/",
        "http://100.64.0.1/",  # carrier-grade NAT
        "http://240.0.0.1/",  # reserved
        "https://[fe80::1]/",
    ],
)
def test_a_webhook_that_reaches_inside_is_refused(url: str) -> None:
    with pytest.raises(WebhookUrlForbidden):
        check(url)


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("https://hooks.example.com/done", "93.184.215.14"),
        ("http://93.184.215.14:8080/x", "93.184.215.14"),
        ("https://v6.example.com/", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"),
    ],
)
def test_a_public_webhook_is_called_at_the_address_that_was_checked(url: str, address: str) -> None:
    assert check(url) == ipaddress.ip_address(address)


def test_allowed_networks_let_in_their_addresses_and_no_others() -> None:
    allowed = ("127.0.0.0/8", "10.0.0.0/8")
    assert check("http://127.0.0.1:8080/hook", allowed) == ipaddress.ip_address("127.0.0.1")
    assert check("http://inside.example.com/", allowed) == ipaddress.ip_address("10.1.2.3")
    with pytest.raises(WebhookUrlForbidden):
        check("http://mixed.example.com/", allowed)
    with pytest.raises(WebhookUrlForbidden):
        check("http://[::1]/", allowed)


def test_a_metadata_service_stays_refused_even_inside_an_allowed_network() -> None:
    with pytest.raises(WebhookUrlForbidden):
        check("http://169.254.169.254/", ("169.254.0.0/16",))


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example.com/",
        "file:///etc/passwd",
        "hooks.example.com/done",
        "http:///nohost",
        "http://hooks.example.com:99999/",
        "http://nowhere.example.com/",  # does not resolve
        "https://hooks.example.com/" + "a" * 2048,
    ],
)
def test_what_is_not_a_callable_http_url_is_invalid(url: str) -> None:
    with pytest.raises(InvalidWebhookUrl) as refused:
        check(url)
    assert not isinstance(refused.value, WebhookUrlForbidden)


def test_a_resolver_that_hangs_makes_the_url_invalid_within_the_timeout() -> None:
    async def hanging(host: str, port: int) -> list[str]:
        await asyncio.sleep(60)
        return []

    with pytest.raises(InvalidWebhookUrl, match="does not resolve"):
        asyncio.run(AddressPolicy((), hanging, timeout=0.05).checked("http://slow.example.com/"))
