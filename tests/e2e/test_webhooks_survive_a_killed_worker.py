"""Webhooks are delivered at least once, whatever happens between the result and the call.

Real API and worker processes on the shared RabbitMQ and Redis, and a receiver on 127.0.0.1 (let
in by INFERENCE_WEBHOOK__ALLOWED_NETWORKS) that checks every call's signature with the client's
helper and answers 503 to its first three calls. The first worker stores results but calls no
webhook (its dispatcher is off) and is killed with SIGKILL once every result is stored; a second
worker then finds every call still due in the outbox.
"""

from __future__ import annotations

import base64
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from demo.shapes import draw_jpegs
from entrypoints.client import InvalidSignature, verify_webhook
from tests.harness import SUBMIT
from tests.harness.cluster import Cluster, inference_serve
from tests.harness.ledger import Ledger
from tests.servers import RABBITMQ_URL, REDIS_URL, require_server

pytestmark = pytest.mark.server

SECRET = "whsec_" + base64.b64encode(b"e2e webhook secret, 32 bytes....").decode()
REQUESTS = 20
BUSY_CALLS = 3
ENV = {
    "INFERENCE_WEBHOOK__SECRET": SECRET,
    "INFERENCE_WEBHOOK__ALLOWED_NETWORKS": "127.0.0.0/8",
    # Quick retries and leases, so that the test takes seconds.
    "INFERENCE_WEBHOOK__FIRST_RETRY_SECONDS": "0.2",
    "INFERENCE_WEBHOOK__MAX_RETRY_SECONDS": "1",
    "INFERENCE_WEBHOOK__POLL_SECONDS": "0.2",
    "INFERENCE_WEBHOOK__LEASE_SECONDS": "5",
    # The lease outlasts a call's two timeouts, as the README asks.
    "INFERENCE_WEBHOOK__CONNECT_TIMEOUT_SECONDS": "2",
    "INFERENCE_WEBHOOK__READ_TIMEOUT_SECONDS": "2",
    "INFERENCE_MODEL__THREADS": "1",
}


class Receiver:
    """Counts calls per request id; refuses (503) its first BUSY_CALLS calls."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.delivered: Counter[str] = Counter()
        self.bad_signatures: list[str] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                try:
                    status = verify_webhook(SECRET, dict(self.headers.items()), body)
                except InvalidSignature as refused:
                    with receiver.lock:
                        receiver.bad_signatures.append(str(refused))
                    self.send_response(400)
                    self.end_headers()
                    return
                with receiver.lock:
                    receiver.calls[status.request_id] += 1
                    busy = sum(receiver.calls.values()) <= BUSY_CALLS
                    if not busy:
                        receiver.delivered[status.request_id] += 1
                self.send_response(503 if busy else 200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/inference"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    require_server("RabbitMQ", RABBITMQ_URL)
    require_server("Redis", REDIS_URL)
    with tempfile.TemporaryDirectory(prefix="webhook-cluster-") as root:
        cluster = Cluster(RABBITMQ_URL, REDIS_URL, Path(root), env=ENV, tag="test.webhooks")
        try:
            cluster.start_api()
            yield cluster
        finally:
            cluster.stop()
            cluster.clean_up()


def test_every_finished_request_is_called_back_at_least_once_across_a_killed_worker(
    cluster: Cluster, receiver: Receiver
) -> None:
    first = cluster.start_worker(INFERENCE_WEBHOOK__DISPATCH="false")
    cluster.wait_until_ready()
    ledger = Ledger()
    with httpx.Client(base_url=cluster.api_url, timeout=30, params={"webhook": receiver.url}) as client:
        for label, image in draw_jpegs(REQUESTS, seed=11):
            ledger.submit(client, label, image)
    accepted = set(ledger.accepted)
    assert len(accepted) == REQUESTS, ledger.errors

    finished = ledger.settle(cluster.api_url)  # every result stored...
    assert {body["status"] for body in finished.values()} == {"succeeded"}
    assert due_webhooks(cluster) == REQUESTS and sum(receiver.calls.values()) == 0  # ...none called
    cluster.kill_worker(first)  # SIGKILL

    cluster.start_worker()  # its dispatcher finds the outbox as the first worker left it
    cluster.wait_until_ready()
    records = wait_for_webhooks(cluster, accepted)

    account = ledger.account(cluster.store_keys())
    print(
        f"\n[webhooks] {len(accepted)} accepted, {len(receiver.delivered)} delivered, "
        f"{sum(receiver.calls.values())} calls ({BUSY_CALLS} answered 503), worker killed with SIGKILL"
    )
    assert receiver.bad_signatures == []
    assert set(receiver.delivered) == accepted  # at least once each
    assert account.lost == [] and account.duplicated == [] and account.unexpected == []
    assert all(r["webhook"]["status"] == "delivered" for r in records.values())
    retried = [r for r in records.values() if r["webhook"]["attempts"] > 1]
    assert retried and all(r["webhook"]["attempts"] >= 2 for r in retried)
    # No tighter count holds both ways: an attempt that times out before the receiver reads it is
    # recorded but never counted there, and a claim whose lease ran out may call once more than
    # it records. Each request was called at least once and each record counts an attempt.
    assert all(receiver.calls[request_id] >= 1 for request_id in accepted)
    assert all(r["webhook"]["attempts"] >= 1 for r in records.values())
    assert due_webhooks(cluster) == 0


def test_the_embedded_service_calls_webhooks_itself(receiver: Receiver) -> None:
    with inference_serve(env=ENV) as (url, _), httpx.Client(base_url=url, timeout=30) as client:
        accepted = set()
        for _, image in draw_jpegs(5, seed=12):
            answer = client.post(
                SUBMIT, params={"webhook": receiver.url}, files={"image": ("shape.jpg", image)}
            )
            assert answer.status_code == 202, answer.text
            accepted.add(answer.json()["request_id"])
        deadline = time.monotonic() + 60
        while set(receiver.delivered) != accepted and time.monotonic() < deadline:
            time.sleep(0.2)
        records = [client.get(f"{SUBMIT}/{rid}/results").json() for rid in accepted]
    assert set(receiver.delivered) == accepted and receiver.bad_signatures == []
    assert sum(receiver.calls.values()) >= len(accepted) + BUSY_CALLS
    assert {r["webhook"]["status"] for r in records} <= {
        "delivered",
        "pending",
    }  # settled just after the call


def due_webhooks(cluster: Cluster) -> int:
    with redis.Redis.from_url(cluster.redis_url) as client:
        return int(client.zcard(f"{cluster.key_prefix}webhooks:due"))


def wait_for_webhooks(
    cluster: Cluster, request_ids: set[str], timeout: float = 120
) -> dict[str, dict[str, Any]]:
    """Every request's record once its webhook is settled (delivered or failed)."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=cluster.api_url, timeout=10) as client:
        while True:
            records = {rid: client.get(f"{SUBMIT}/{rid}/results").json() for rid in request_ids}
            if all(r["webhook"]["status"] != "pending" for r in records.values()):
                return records
            assert time.monotonic() < deadline, cluster.logs()
            time.sleep(0.3)
