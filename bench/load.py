"""Load for the end-to-end benchmarks: asyncio clients over aiohttp, filling the harness's ledger.

aiohttp, not httpx, because the client shares the machine with the service it measures: its
cost per request is a fraction of httpx's, so more of the CPU is left for the service.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import aiohttp

from tests.harness import SUBMIT
from tests.harness.ledger import TERMINAL, Submission


async def submit(
    session: aiohttp.ClientSession, image: bytes, submission: Submission, prefer_wait: int = 0
) -> None:
    """POST the image; with `prefer_wait`, ask for the result in the answer (`Prefer: wait=N`)."""
    headers = {"content-type": "image/jpeg"}
    if prefer_wait:
        headers["prefer"] = f"wait={prefer_wait}"
    submission.sent = time.monotonic()
    async with session.post(SUBMIT, data=image, headers=headers) as response:
        submission.status = response.status
        if response.status == 202:
            submission.request_id = (await response.json())["request_id"]
            submission.answered = time.monotonic()
        elif response.status == 200 and prefer_wait:  # finished within the wait: the record
            record = submission.record = await response.json()
            submission.request_id = record["request_id"]
            submission.answered = submission.finished = time.monotonic()
            submission.finished_wall = time.time()
        else:
            submission.refusal = (await response.text())[:300]


async def wait_for(session: aiohttp.ClientSession, submission: Submission, wait: float = 30.0) -> None:
    """Long-poll the submission's result until it is terminal (or `wait` passes once more)."""
    assert submission.request_id is not None
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        url = f"{SUBMIT}/{submission.request_id}/results"
        async with session.get(url, params={"wait": str(min(wait, 30.0))}) as response:
            if response.status != 200:
                await response.read()
                await asyncio.sleep(0.1)
                continue
            submission.record = await response.json()
        if submission.record["status"] in TERMINAL:
            submission.finished, submission.finished_wall = time.monotonic(), time.time()
            return


async def closed_loop(
    url: str,
    images: Sequence[bytes],
    clients: int,
    wait_for_results: bool,
    connections: int = 64,
    prefer_wait: int = 0,
) -> list[Submission]:
    """Each of `clients` submits the next image (and, if asked, waits for its result: in the
    POST's answer with `prefer_wait`, else by long-polling) until all `images` are submitted.
    Refusals (429, 503) are counted, not retried."""
    submissions = [Submission(0) for _ in images]
    next_index = iter(range(len(images)))
    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as session:

        async def client() -> None:
            for index in next_index:
                await submit(session, images[index], submissions[index], prefer_wait)
                submission = submissions[index]
                if wait_for_results and submission.request_id is not None and not submission.terminal:
                    await wait_for(session, submission)

        await asyncio.gather(*(client() for _ in range(clients)))
    return submissions


async def settle(url: str, submissions: Sequence[Submission], wait: float = 60.0, clients: int = 32) -> None:
    """Read every accepted request's record until it is terminal (or `wait` passes)."""
    pending = iter([o for o in submissions if o.request_id is not None and o.finished is None])
    async with aiohttp.ClientSession(url, timeout=aiohttp.ClientTimeout(total=wait + 10)) as session:

        async def reader() -> None:
            for submission in pending:
                await wait_for(session, submission, wait)

        await asyncio.gather(*(reader() for _ in range(clients)))
