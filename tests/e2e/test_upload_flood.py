"""A flood of over-limit uploads does not grow the API's memory with the uploads.

50 clients at once send bodies over the upload limit to a real `inference serve` process, half
declaring their length (refused before a byte is read) and half chunked (refused as the limit
is passed). The process's peak resident memory (VmHWM) is compared before and after.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.harness import SUBMIT
from tests.harness.cluster import inference_serve
from tests.images import png_bytes

pytestmark = pytest.mark.slow

LIMIT = 10 * 1024 * 1024  # the default INFERENCE_API__MAX_UPLOAD_BYTES
CLIENTS = 50
# Each over-limit upload may cost its spool (1 MiB) while it is read; the rest is slack for
# the event loop, sockets and allocator.
BOUND_MIB = 80


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc")


@pytest.fixture
def served() -> Iterator[tuple[str, int]]:
    with inference_serve() as (url, process):
        yield url, process.pid


HEAD = png_bytes()
CHUNKS = LIMIT // 65536 + 64  # 4 MiB past the limit
BODY_BYTES = len(HEAD) + CHUNKS * 65536


def over_limit_body() -> Iterator[bytes]:
    yield HEAD
    for _ in range(CHUNKS):
        yield b"\0" * 65536


def send(url: str, declared: bool) -> str:
    """POST an over-limit body, with its length declared up front or chunked; what came back."""
    headers = {"content-type": "image/png"}
    if declared:
        headers["content-length"] = str(BODY_BYTES)
    try:
        response = httpx.post(f"{url}{SUBMIT}", content=over_limit_body(), headers=headers, timeout=60)
    except httpx.HTTPError as exc:
        # The server answered 413 and closed while the client was still sending: the client
        # sees the connection go; what matters here is what the server did, not this client.
        return type(exc).__name__
    return str(response.status_code)


def test_fifty_clients_sending_over_limit_bodies_leave_the_api_memory_flat(served: tuple[str, int]) -> None:
    url, pid = served
    with httpx.Client(base_url=url) as client:  # warm the paths up first
        for _ in range(5):
            client.post(SUBMIT, content=png_bytes(), headers={"content-type": "image/png"})
    before = peak_rss_mib(pid)

    with ThreadPoolExecutor(CLIENTS) as pool:
        outcomes = Counter(pool.map(lambda i: send(url, declared=i % 2 == 0), range(CLIENTS)))
    after = peak_rss_mib(pid)
    still_serving = httpx.post(f"{url}{SUBMIT}", content=png_bytes(), headers={"content-type": "image/png"})

    print(
        f"\n{CLIENTS} over-limit uploads of {LIMIT // 2**20 + 4} MiB: peak RSS {before:.0f} → {after:.0f} MiB"
        f" (+{after - before:.0f} MiB; {CLIENTS * (LIMIT // 2**20)} MiB if bodies were buffered);"
        f" answers {dict(outcomes)}"
    )
    assert after - before < BOUND_MIB
    assert not any(outcome.startswith("5") for outcome in outcomes)
    assert outcomes["413"] >= CLIENTS // 2
    assert still_serving.status_code == 202
