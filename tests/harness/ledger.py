"""A client-side ledger of submissions, and one account of what became of them.

Every answer a client got is a `Submission`; `account` then counts, Jepsen-style, what became
of every request that was accepted (202). The definitions, shared by the fault tests and the
benchmarks so that their figures mean the same:

- lost: accepted, yet no terminal record could be read back;
- duplicated: one request id answered to more than one submission;
- unexpected: a record the service worked on (past `queued`) that no client was told about.
  A record left `queued` by a refused submission (its 503 came after the store took the write)
  is an orphan instead: it only expires.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from tests.harness import SUBMIT, percentiles

TERMINAL = ("succeeded", "failed", "canceled")
REFUSALS = (429, 503)  # "not now": the service is full or a dependency is down


@dataclass
class Submission:
    """One submission as its client saw it."""

    status: int  # the POST's HTTP status; 0 when no answer came
    request_id: str | None = None
    label: str | None = None  # the image's true label, where the client knows it
    sent: float = 0.0  # time.monotonic()
    answered: float = 0.0  # when the POST's answer came
    finished: float | None = None  # when the client read a terminal record, if it waited for one
    finished_wall: float | None = None  # the same, by the wall clock (to compare with the record's)
    record: dict[str, Any] | None = None  # the last record read
    refusal: str | None = None  # the body of a POST that was not accepted, or the client's error

    @property
    def terminal(self) -> bool:
        return self.record is not None and self.record["status"] in TERMINAL


@dataclass
class Account:
    submitted: int
    accepted: int
    refused: dict[int, int]  # by status
    errors: int  # answers neither accepted nor refused, and no answer at all
    succeeded: int
    failed: dict[str, int]  # by error code
    canceled: int
    lost: list[str]
    duplicated: list[str]
    unexpected: list[str]
    orphans: int
    redelivered: int  # finished after more than one attempt
    wrong_label: int  # succeeded with another label than the client's
    completed_per_second: float  # by the service's clocks: first acceptance to last completion
    time_to_result_ms: dict[str, float] = field(default_factory=dict)  # for clients that waited

    def report(self, title: str) -> str:
        return (
            f"[{title}] accepted {self.accepted}, refused {self.refused}, client errors {self.errors}"
            f" | succeeded {self.succeeded}, failed {self.failed}, canceled {self.canceled}"
            f" | LOST {len(self.lost)}, DUPLICATED {len(self.duplicated)}, UNEXPECTED {len(self.unexpected)}"
            f" | redelivered {self.redelivered}, wrong label {self.wrong_label},"
            f" unacknowledged orphans {self.orphans}"
        )


def account(
    submissions: Sequence[Submission],
    stored: Mapping[str, str] | None = None,
    baseline: Iterable[str] = (),
) -> Account:
    """What became of `submissions`; `stored` (request id → status of every record in the store,
    where the caller can read it) finds the unexpected, `baseline` names the records there before."""
    accepted = [s for s in submissions if s.request_id is not None]
    accepted_ids = Counter(s.request_id for s in accepted)
    finished = {s.request_id: s for s in accepted if s.terminal and s.request_id is not None}
    records = [s.record for s in finished.values() if s.record is not None]
    unknown = set(stored or {}) - set(accepted_ids) - set(baseline)
    waited = [1000 * (s.finished - s.sent) for s in finished.values() if s.finished is not None]
    return Account(
        submitted=len(submissions),
        accepted=len(accepted_ids),
        refused=dict(Counter(s.status for s in submissions if s.status in REFUSALS)),
        errors=sum(1 for s in submissions if s.request_id is None and s.status not in REFUSALS),
        succeeded=sum(1 for r in records if r["status"] == "succeeded"),
        failed=dict(Counter(r["error"]["code"] for r in records if r["status"] == "failed")),
        canceled=sum(1 for r in records if r["status"] == "canceled"),
        lost=sorted(str(rid) for rid in accepted_ids if rid not in finished),
        duplicated=sorted(str(rid) for rid, n in accepted_ids.items() if n > 1),
        unexpected=sorted(rid for rid in unknown if stored and stored[rid] != "queued"),
        orphans=sum(1 for rid in unknown if stored and stored[rid] == "queued"),
        redelivered=sum(1 for r in records if r.get("attempts", 1) > 1),
        wrong_label=sum(
            1
            for s in finished.values()
            if s.label is not None
            and s.record
            and s.record["status"] == "succeeded"
            and s.record["result"]["label"] != s.label
        ),
        completed_per_second=_completed_per_second(records),
        time_to_result_ms=percentiles(waited) if waited else {},
    )


def _completed_per_second(records: Sequence[dict[str, Any]]) -> float:
    if not records:
        return 0.0
    first = min(datetime.fromisoformat(r["created_at"]).timestamp() for r in records)
    last = max(datetime.fromisoformat(r["completed_at"]).timestamp() for r in records)
    return len(records) / max(last - first, 1e-9)


@dataclass
class Ledger:
    """Submissions from blocking clients. Thread-safe: several submitting threads share one."""

    submissions: list[Submission] = field(default_factory=list)
    baseline: set[str] = field(default_factory=set)  # records in the store before this ledger
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def accepted(self) -> dict[str, str | None]:
        """Request id → the true label of its image."""
        return {s.request_id: s.label for s in self.submissions if s.request_id is not None}

    @property
    def accepted_at(self) -> dict[str, float]:
        return {s.request_id: s.answered for s in self.submissions if s.request_id is not None}

    @property
    def refused(self) -> Counter[int]:
        return Counter(s.status for s in self.submissions if s.status in REFUSALS)

    @property
    def errors(self) -> list[str]:
        return [
            s.refusal or str(s.status)
            for s in self.submissions
            if s.request_id is None and s.status not in REFUSALS
        ]

    def submit(self, client: httpx.Client, label: str, image: bytes) -> str | None:
        submission = Submission(0, label=label, sent=time.monotonic())
        try:
            response = client.post(SUBMIT, files={"image": ("shape.jpg", image)})
        except httpx.HTTPError as exc:
            # Neither accepted nor refused: the client cannot know. A real client retries; the
            # ledger keeps it out of "accepted", as no 202 was seen.
            submission.refusal = repr(exc)
        else:
            submission.status, submission.answered = response.status_code, time.monotonic()
            if response.status_code == 202:
                submission.request_id = response.json()["request_id"]
            else:
                submission.refusal = f"{response.status_code} {response.text[:200]}"
        with self._lock:
            self.submissions.append(submission)
        return submission.request_id

    def submit_all(self, api_url: str, images: Sequence[tuple[str, bytes]], threads: int = 4) -> None:
        def run(share: Sequence[tuple[str, bytes]]) -> None:
            with httpx.Client(base_url=api_url, timeout=30) as client:
                for label, image in share:
                    self.submit(client, label, image)

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(run, [images[i::threads] for i in range(threads)]))

    def submit_until(
        self, api_url: str, images: Sequence[tuple[str, bytes]], stop: threading.Event, threads: int = 4
    ) -> ThreadPoolExecutor:
        """Keep submitting (cycling through `images`) from `threads` clients until `stop` is set."""

        def run(offset: int) -> None:
            with httpx.Client(base_url=api_url, timeout=30) as client:
                for label, image in _cycle(images, offset):
                    if stop.is_set():
                        return
                    if self.submit(client, label, image) is None:
                        time.sleep(0.1)  # refused: back off as Retry-After asks

        pool = ThreadPoolExecutor(threads)
        for offset in range(threads):
            pool.submit(run, offset)
        return pool

    def settle(self, api_url: str, timeout: float = 120.0) -> dict[str, dict[str, Any]]:
        """The last answer for every accepted request, waiting for each to become terminal."""
        deadline = time.monotonic() + timeout
        pending = [s for s in self.submissions if s.request_id is not None]
        with httpx.Client(base_url=api_url, timeout=40) as client:
            while pending and time.monotonic() < deadline:
                for submission in pending:
                    wait = min(5.0, max(deadline - time.monotonic(), 0))
                    submission.record = _result(client, str(submission.request_id), wait) or submission.record
                pending = [s for s in pending if not s.terminal]
        return {s.request_id: s.record for s in self.submissions if s.request_id and s.record is not None}

    def account(self, stored: Mapping[str, str]) -> Account:
        return account(self.submissions, stored, self.baseline)


def _result(client: httpx.Client, request_id: str, wait: float) -> dict[str, Any] | None:
    try:
        response = client.get(f"{SUBMIT}/{request_id}/results", params={"wait": wait})
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    body: dict[str, Any] = response.json()
    return body


def _cycle(images: Sequence[tuple[str, bytes]], offset: int) -> Iterator[tuple[str, bytes]]:
    index = offset
    while True:
        yield images[index % len(images)]
        index += 1
