"""HttpxWebhookSender against a receiver on 127.0.0.1 (an aiohttp server in the test's loop)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from adapters.webhooks import HttpxWebhookSender
from inference.errors import WebhookUnreachable, WebhookUrlForbidden
from inference.signatures import secret_key, verify
from tests.harness import free_port

SECRET = "whsec_" + base64.b64encode(b"the receiver's 24B secret").decode()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def sender(
    resolver: Callable[[str, int], Awaitable[list[str]]] | None = None, **options: float
) -> HttpxWebhookSender:
    async def local(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    return HttpxWebhookSender(
        key=secret_key(SECRET),
        allowed_networks=["127.0.0.0/8"],
        resolver=resolver or local,
        connect_timeout=options.get("connect_timeout", 2.0),
        read_timeout=options.get("read_timeout", 2.0),
        max_response_bytes=64 * 1024,
    )


@asynccontextmanager
async def receiver(handler: Handler) -> AsyncIterator[int]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield port
    finally:
        await runner.cleanup()


def test_a_call_is_a_signed_json_post_to_the_checked_address_under_the_hosts_name() -> None:
    seen: list[tuple[str, dict[str, str], bytes]] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append((request.method, dict(request.headers), await request.read()))
        return web.Response(status=204)

    async def scenario() -> None:
        async with receiver(handle) as port:
            # hooks.test does not exist: the call reaches the receiver only through the address checked.
            assert await sender().send(f"http://hooks.test:{port}/done", "req-1", b'{"a": 1}') == 204

    asyncio.run(scenario())
    [(method, headers, body)] = seen
    assert method == "POST" and body == b'{"a": 1}'
    assert headers["Host"] == f"hooks.test:{headers['Host'].rsplit(':', 1)[1]}"
    assert headers["Content-Type"] == "application/json"
    assert headers["webhook-id"] == "req-1"
    verify(SECRET, headers, body)


def test_an_address_that_changed_to_a_forbidden_one_since_submit_is_not_called() -> None:
    answers = [["127.0.0.1"], ["169.254.169.254"]]

    async def rebinding(host: str, port: int) -> list[str]:
        return answers.pop(0)

    async def scenario() -> None:
        webhooks = sender(rebinding)
        await webhooks.check("http://rebind.test/")
        with pytest.raises(WebhookUrlForbidden):
            await webhooks.send("http://rebind.test/", "req-1", b"{}")

    asyncio.run(scenario())


def test_a_redirect_is_an_answer_and_is_not_followed() -> None:
    paths: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        paths.append(request.path)
        return web.Response(status=302, headers={"Location": "/elsewhere"})

    async def scenario() -> None:
        async with receiver(handle) as port:
            assert await sender().send(f"http://127.0.0.1:{port}/hook", "req-1", b"{}") == 302

    asyncio.run(scenario())
    assert paths == ["/hook"]


def test_an_endless_answer_is_read_only_so_far() -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200)
        await response.prepare(request)
        for _ in range(10_000):  # 640 MB if anyone read it all
            await response.write(b"x" * 65536)
        return response

    async def scenario() -> None:
        async with receiver(handle) as port:
            assert await sender(read_timeout=5).send(f"http://127.0.0.1:{port}/", "req-1", b"{}") == 200

    asyncio.run(scenario())


def test_a_receiver_that_does_not_answer_in_time_is_unreachable() -> None:
    async def handle(request: web.Request) -> web.Response:
        await asyncio.sleep(1.5)  # past the read timeout; short, as the server waits for it to close
        return web.Response(status=200)

    async def scenario() -> None:
        async with receiver(handle) as port:
            with pytest.raises(WebhookUnreachable):
                await sender(read_timeout=0.3).send(f"http://127.0.0.1:{port}/", "req-1", b"{}")

    asyncio.run(scenario())


def test_a_port_nobody_listens_on_is_unreachable() -> None:
    with pytest.raises(WebhookUnreachable):
        asyncio.run(sender().send(f"http://127.0.0.1:{free_port()}/", "req-1", b"{}"))
