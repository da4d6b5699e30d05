"""A distributed deployment in miniature, and a client ledger to prove that it loses nothing.

`Cluster` runs one `inference api` and any number of `inference worker` processes — the real
console script — against a RabbitMQ and a Redis that the test owns. `Ledger` records every
answer the clients got; `Ledger.account` then counts, Jepsen-style, what became of every
request that was accepted (202).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from entrypoints.client import wait_until_ready
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
INFERENCE = str(Path(sys.executable).parent / "inference")
SUBMIT = "/api/inference/requests"
START_TIMEOUT = 180.0  # a process imports torch and loads the model; CI machines are slow


class Cluster:
    def __init__(self, rabbitmq_url: str, redis_url: str, root: Path) -> None:
        self.rabbitmq_url, self.redis_url, self.root = rabbitmq_url, redis_url, root
        self.queue_name = f"test.e2e.{uuid.uuid4().hex[:8]}"
        self.key_prefix = f"test:e2e:{uuid.uuid4().hex[:8]}:"
        self.api_url = f"http://127.0.0.1:{free_port()}"
        self.api: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self._started = 0

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "INFERENCE_MODE": "distributed",
            "INFERENCE_RABBITMQ_URL": self.rabbitmq_url,
            "INFERENCE_REDIS_URL": self.redis_url,
            "INFERENCE_QUEUE__NAME": self.queue_name,
            "INFERENCE_STORE__KEY_PREFIX": self.key_prefix,
            "INFERENCE_STORE__TIMEOUT_SECONDS": "1",
            "INFERENCE_QUEUE__TIMEOUT_SECONDS": "3",
            "INFERENCE_MODEL__THREADS": "1",  # two workers share two cores with everything else
            "INFERENCE_LOG_LEVEL": "INFO",
            **extra,
        }

    def start_api(self) -> None:
        port = self.api_url.rsplit(":", 1)[1]
        self.api = self._spawn("api", [INFERENCE, "api", "--port", port], self.env())

    def start_worker(self) -> subprocess.Popen[bytes]:
        heartbeat = self.root / f"worker-{self._started}.heartbeat"
        metrics_port = free_port()  # workers on one host cannot share the default port
        worker = self._spawn(
            f"worker-{self._started}",
            [INFERENCE, "worker"],
            self.env(
                INFERENCE_WORKER__HEARTBEAT_FILE=str(heartbeat),
                INFERENCE_WORKER__METRICS_PORT=str(metrics_port),
            ),
        )
        worker.heartbeat = heartbeat  # type: ignore[attr-defined]
        worker.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"  # type: ignore[attr-defined]
        self.workers.append(worker)
        return worker

    def wait_until_ready(self, timeout: float = START_TIMEOUT) -> None:
        """The API answers ready and every live worker has loaded its model (its first beat)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            if self._api_ready() and all(w.heartbeat.exists() for w in self.live_workers):  # type: ignore[attr-defined]
                return
            time.sleep(0.2)
        raise TimeoutError(f"the cluster was not ready within {timeout:.0f} s\n{self.logs()}")

    @property
    def live_workers(self) -> list[subprocess.Popen[bytes]]:
        return [w for w in self.workers if w.poll() is None]

    def kill_worker(self, worker: subprocess.Popen[bytes]) -> None:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)

    def stop(self) -> None:
        processes = [p for p in [self.api, *self.workers] if p is not None and p.poll() is None]
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

    def logs(self, lines: int = 25) -> str:
        tails = []
        for log in sorted(self.root.glob("*.log")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            tails.append(f"--- {log.name}\n" + "\n".join(text))
        return "\n".join(tails)

    def store_keys(self) -> dict[str, str]:
        """Every request record in the store: request id → status."""
        client = redis.Redis.from_url(self.redis_url, socket_timeout=5)
        try:
            found = {}
            for key in client.scan_iter(match=f"{self.key_prefix}request:*", count=1000):
                raw = client.get(key)
                if raw is not None:
                    request_id = key.decode().rsplit(":", 1)[1]
                    found[request_id] = _status_of(raw)
            return found
        finally:
            client.close()

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        self._started += name.startswith("worker")
        log = (self.root / f"{name}.log").open("ab")
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def _api_ready(self) -> bool:
        try:
            return httpx.get(f"{self.api_url}/api/health/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def _check_alive(self) -> None:
        if self.api is not None and self.api.poll() is not None:
            raise RuntimeError(f"the API exited with {self.api.returncode}\n{self.logs()}")


def _status_of(raw: bytes | str) -> str:
    status: str = json.loads(raw)["status"]
    return status


@dataclass
class Account:
    accepted: int
    refused: dict[int, int]
    errors: int
    succeeded: int
    failed: dict[str, int]
    lost: list[str]
    duplicated: list[str]
    unexpected: list[str]
    orphans: int
    redelivered: int
    wrong_label: int

    def report(self, title: str) -> str:
        return (
            f"[{title}] accepted {self.accepted}, refused {dict(self.refused)}, client errors {self.errors}"
            f" | succeeded {self.succeeded}, failed {dict(self.failed)}"
            f" | LOST {len(self.lost)}, DUPLICATED {len(self.duplicated)}, UNEXPECTED {len(self.unexpected)}"
            f" | redelivered {self.redelivered}, wrong label {self.wrong_label},"
            f" unacknowledged orphans {self.orphans}"
        )


@dataclass
class Ledger:
    """Every answer the clients got. Thread-safe: several submitting threads share one."""

    accepted: dict[str, str] = field(default_factory=dict)  # request id → true label
    acceptances: Counter[str] = field(default_factory=Counter)
    refused: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    accepted_at: dict[str, float] = field(default_factory=dict)
    baseline: set[str] = field(default_factory=set)  # records in the store before this ledger
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def submit(self, client: httpx.Client, label: str, image: bytes) -> str | None:
        try:
            response = client.post(SUBMIT, files={"image": ("shape.jpg", image)})
        except httpx.HTTPError as exc:
            # Neither accepted nor refused: the client cannot know. A real client retries;
            # the ledger keeps it out of "accepted", as no 202 was seen.
            with self._lock:
                self.errors.append(repr(exc))
            return None
        with self._lock:
            if response.status_code == 202:
                request_id: str = response.json()["request_id"]
                self.accepted[request_id] = label
                self.acceptances[request_id] += 1
                self.accepted_at[request_id] = time.monotonic()
                return request_id
            if response.status_code in (429, 503):
                self.refused[response.status_code] += 1
            else:
                self.errors.append(f"{response.status_code} {response.text[:200]}")
        return None

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
        final: dict[str, dict[str, Any]] = {}
        pending = list(self.accepted)
        with httpx.Client(base_url=api_url, timeout=40) as client:
            while pending and time.monotonic() < deadline:
                still = []
                for request_id in pending:
                    body = _result(client, request_id, wait=min(5.0, max(deadline - time.monotonic(), 0)))
                    if body is not None:
                        final[request_id] = body
                    if body is None or body["status"] not in ("succeeded", "failed"):
                        still.append(request_id)
                pending = still
        return final

    def account(self, final: dict[str, dict[str, Any]], stored: dict[str, str]) -> Account:
        terminal = {rid: b for rid, b in final.items() if b["status"] in ("succeeded", "failed")}
        succeeded = [b for b in terminal.values() if b["status"] == "succeeded"]
        failed = Counter(b["error"]["code"] for b in terminal.values() if b["status"] == "failed")
        unknown = set(stored) - set(self.accepted) - self.baseline
        return Account(
            accepted=len(self.accepted),
            refused=dict(self.refused),
            errors=len(self.errors),
            succeeded=len(succeeded),
            failed=dict(failed),
            lost=sorted(set(self.accepted) - set(terminal)),
            duplicated=sorted(rid for rid, n in self.acceptances.items() if n > 1),
            # Work done for a request nobody was told about is unexpected; a record left queued
            # by a refused submission (its 503 came after Redis took the write) only expires.
            unexpected=sorted(rid for rid in unknown if stored[rid] != "queued"),
            orphans=sum(1 for rid in unknown if stored[rid] == "queued"),
            redelivered=sum(1 for b in terminal.values() if b.get("attempts", 1) > 1),
            wrong_label=sum(
                1
                for rid, b in terminal.items()
                if b["status"] == "succeeded" and b["result"]["label"] != self.accepted[rid]
            ),
        )


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


@contextlib.contextmanager
def inference_serve(timeout: float = START_TIMEOUT) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`inference serve` as a user runs it, in its own process on a spare port: (url, process)."""
    url = f"http://127.0.0.1:{free_port()}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [INFERENCE, "serve", "--port", url.rsplit(":", 1)[1]], cwd=ROOT, stdout=log, stderr=log
        )
        try:
            if not wait_until_ready(url, timeout, alive=lambda: process.poll() is None):
                log.seek(0)
                pytest.fail(f"inference serve was not ready within {timeout:.0f} s:\n{log.read()[-3000:]!r}")
            yield url, process
        finally:
            process.terminate()
            process.wait(timeout=30)
