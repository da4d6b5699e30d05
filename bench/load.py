"""Load for the end-to-end benchmarks: asyncio clients over aiohttp, and an account of the answers.

aiohttp, not httpx, because the client shares the machine with the service it measures: its
cost per request is a fraction of httpx's, so more of the CPU is left for the service.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp

SUBMIT = "/api/inference/requests"
TERMINAL = ("succeeded", "failed")


@dataclass
class Outcome:
    """One submission as its client saw it."""

    status: int  # the POST's HTTP status
    request_id: str | None = None
    sent: float = 0.0  # time.monotonic()
    answered: float = 0.0  # when the POST's answer came
    finished: float | None = None  # when the client read a terminal record (long-poll), if it waited
    finished_wall: float | None = None  # the same, by the wall clock (to compare with the record's)
    record: dict[str, Any] | None = None  # the last record read
    refusal: str | None = None  # the body of a refused POST


@dataclass
class Account:
    """What became of every submission: the Jepsen-style ledger's totals."""

    submitted: int
    accepted: int
    refused: dict[int, int]
    succeeded: int
    failed: int
    lost: int  # accepted, yet no terminal record could be read
    duplicated: int  # one request id answered to two submissions
    completed_per_second: float  # accepted requests / (last completion - first submission)
    time_to_result_ms: dict[str, float] = field(default_factory=dict)


async def submit(session: aiohttp.ClientSession, image: bytes, outcome: Outcome) -> None:
    outcome.sent = time.monotonic()
    async with session.post(SUBMIT, data=image, headers={"content-type": "image/jpeg"}) as response:
        outcome.status = response.status
        if response.status == 202:
            outcome.request_id = (await response.json())["request_id"]
            outcome.answered = time.monotonic()
        else:
            outcome.refusal = (await response.text())[:300]


async def wait_for(session: aiohttp.ClientSession, outcome: Outcome, wait: float = 30.0) -> None:
    """Long-poll the submission's result until it is terminal (or `wait` passes once more)."""
    assert outcome.request_id is not None
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        url = f"{SUBMIT}/{outcome.request_id}/results"
        async with session.get(url, params={"wait": str(min(wait, 30.0))}) as response:
            if response.status != 200:
                await response.read()
                await asyncio.sleep(0.1)
                continue
            outcome.record = await response.json()
        if outcome.record["status"] in TERMINAL:
            outcome.finished, outcome.finished_wall = time.monotonic(), time.time()
            return


async def closed_loop(
    url: str, images: Sequence[bytes], clients: int, wait_for_results: bool, connections: int = 64
) -> list[Outcome]:
    """Each of `clients` submits the next image (and, if asked, waits for its result) until all
    `images` are submitted. Refusals (429, 503) are counted, not retried."""
    outcomes = [Outcome(0) for _ in images]
    next_index = iter(range(len(images)))
    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as session:

        async def client() -> None:
            for index in next_index:
                await submit(session, images[index], outcomes[index])
                if wait_for_results and outcomes[index].request_id is not None:
                    await wait_for(session, outcomes[index])

        await asyncio.gather(*(client() for _ in range(clients)))
    return outcomes


async def settle(url: str, outcomes: Sequence[Outcome], wait: float = 60.0, clients: int = 32) -> None:
    """Read every accepted request's record until it is terminal (or `wait` passes)."""
    pending = iter([o for o in outcomes if o.request_id is not None and o.finished is None])
    async with aiohttp.ClientSession(url, timeout=aiohttp.ClientTimeout(total=wait + 10)) as session:

        async def reader() -> None:
            for outcome in pending:
                await wait_for(session, outcome, wait)

        await asyncio.gather(*(reader() for _ in range(clients)))


def account(outcomes: Sequence[Outcome]) -> Account:
    accepted = [o for o in outcomes if o.request_id is not None]
    terminal = [o for o in accepted if o.record is not None and o.record["status"] in TERMINAL]
    refused: dict[int, int] = {}
    for o in outcomes:
        if o.request_id is None:
            refused[o.status] = refused.get(o.status, 0) + 1
    ids = [o.request_id for o in accepted]
    rate = 0.0
    if terminal:
        # The service's own timestamps: from the first acceptance to the last completion.
        first = min(_when(o.record, "created_at") for o in terminal if o.record)
        last = max(_when(o.record, "completed_at") for o in terminal if o.record)
        rate = len(terminal) / max(last - first, 1e-9)
    waited = sorted(1000 * (o.finished - o.sent) for o in terminal if o.finished is not None)
    return Account(
        submitted=len(outcomes),
        accepted=len(accepted),
        refused=refused,
        succeeded=sum(1 for o in terminal if o.record and o.record["status"] == "succeeded"),
        failed=sum(1 for o in terminal if o.record and o.record["status"] == "failed"),
        lost=len(accepted) - len(terminal),
        duplicated=len(ids) - len(set(ids)),
        completed_per_second=rate,
        time_to_result_ms=percentiles(waited) if waited else {},
    )


def percentiles(values: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {"p50": statistics.median(ordered), "p95": at(0.95), "p99": at(0.99)}


def _when(record: dict[str, Any], key: str) -> float:
    return datetime.fromisoformat(record[key]).timestamp()
