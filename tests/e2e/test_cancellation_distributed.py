"""Cancel in the distributed mode: real API and worker processes, RabbitMQ and Redis, the demo model."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from demo.shapes import draw_jpegs
from tests.e2e.serving import DEMO_MODEL_ENV
from tests.harness import SUBMIT
from tests.harness.cluster import Cluster
from tests.harness.ledger import Ledger
from tests.metrics import samples
from tests.servers import RABBITMQ_URL, REDIS_URL, require_server

pytestmark = [pytest.mark.slow, pytest.mark.server]


@pytest.fixture
def api_without_workers() -> Iterator[Cluster]:
    """An API with no worker yet: whatever is submitted stays queued, as behind a model that never
    finishes, until the test starts one."""
    require_server("RabbitMQ", RABBITMQ_URL)
    require_server("Redis", REDIS_URL)
    with tempfile.TemporaryDirectory(prefix="cancel-") as root:
        # Ready with no worker: readiness otherwise waits for one (INFERENCE_API__MIN_WORKERS).
        env = {**DEMO_MODEL_ENV, "INFERENCE_API__MIN_WORKERS": "0"}
        cluster = Cluster(RABBITMQ_URL, REDIS_URL, Path(root), env=env, tag="test.cancel")
        try:
            cluster.start_api()
            cluster.wait_until_ready()
            yield cluster
        finally:
            cluster.stop()
            cluster.clean_up()


def test_of_fifty_queued_requests_the_twenty_five_canceled_never_reach_the_model(
    api_without_workers: Cluster,
) -> None:
    cluster = api_without_workers
    ledger = Ledger()
    ledger.submit_all(cluster.api_url, draw_jpegs(50, seed=21))
    ids = list(ledger.accepted)
    canceled = set(ids[::2])
    with httpx.Client(base_url=cluster.api_url, timeout=30) as client:
        answers = [client.post(f"{SUBMIT}/{request_id}/cancel") for request_id in canceled]
    assert [a.json()["status"] for a in answers] == ["canceled"] * 25

    worker = cluster.start_worker()
    cluster.wait_until_ready()
    records = ledger.settle(cluster.api_url)
    report = ledger.account(cluster.store_keys())
    print(report.report("cancel 25 of 50"))

    assert {rid for rid, r in records.items() if r["status"] == "canceled"} == canceled
    assert {rid for rid, r in records.items() if r["status"] == "succeeded"} == set(ids) - canceled
    assert (report.accepted, report.lost, report.duplicated, report.unexpected) == (50, [], [], [])
    in_worker = samples(worker.metrics_url)  # type: ignore[attr-defined]
    assert in_worker["inference_queue_wait_seconds_count", ()] == 50  # every message was delivered
    assert in_worker["inference_batch_size_sum", ()] == 25  # and the model ran the 25 not canceled
