"""`inference dlq` against a real broker, store and workers: a request that crashes every worker
it reaches is parked; `dlq list` shows it, `dlq requeue` sends it round again and, the poison
gone (workers without the crashing model), it succeeds; `dlq purge` empties the parked letters."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pika
import pytest

from demo.shapes import draw_jpegs
from tests.e2e.poison_worker import POISON
from tests.harness import SUBMIT
from tests.harness.cluster import INFERENCE, ROOT, Cluster
from tests.servers import RABBITMQ_URL, REDIS_URL, require_server

pytestmark = [pytest.mark.slow, pytest.mark.server]

POISON_WORKER = [sys.executable, "-m", "tests.e2e.poison_worker"]
PLAIN_WORKER = [INFERENCE, "worker"]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    require_server("RabbitMQ", RABBITMQ_URL)
    require_server("Redis", REDIS_URL)
    env = {"INFERENCE_WORKER__MAX_ATTEMPTS": "1", "INFERENCE_MODEL__THREADS": "1"}
    cluster = Cluster(
        RABBITMQ_URL, REDIS_URL, tmp_path, env=env, worker_command=POISON_WORKER, tag="test.dlq"
    )
    try:
        cluster.start_api()
        cluster.start_worker()
        cluster.wait_until_ready()
        yield cluster
    finally:
        cluster.stop()
        cluster.clean_up()


def dlq(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    """The command as an operator runs it, with the cluster's settings in its environment."""
    return subprocess.run(
        [INFERENCE, "dlq", *args], cwd=ROOT, env=cluster.env(), capture_output=True, text=True, timeout=60
    )


def parked(cluster: Cluster) -> list[dict[str, Any]]:
    listing = dlq(cluster, "list", "--json")
    assert listing.returncode == 0, listing.stderr
    letters: list[dict[str, Any]] = json.loads(listing.stdout)
    return letters


def until(condition: Any, seconds: float, cluster: Cluster) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"the condition never held\n{cluster.logs()}"
        time.sleep(0.5)


def result(cluster: Cluster, request_id: str, wait: float = 0) -> dict[str, Any]:
    response = httpx.get(f"{cluster.api_url}{SUBMIT}/{request_id}/results", params={"wait": wait}, timeout=60)
    body: dict[str, Any] = response.raise_for_status().json()
    return body


def test_a_poisoned_request_is_parked_listed_requeued_and_then_succeeds(cluster: Cluster) -> None:
    [(_, image)] = draw_jpegs(1, seed=5)
    poisoned = image + POISON  # still a JPEG that decodes: the bytes after its end are ignored
    response = httpx.post(f"{cluster.api_url}{SUBMIT}", files={"image": ("p.jpg", poisoned, "image/jpeg")})
    request_id = response.raise_for_status().json()["request_id"]

    # Every worker it reaches dies; an orchestrator starts another, until its attempts run out.
    def failed() -> bool:
        if not cluster.live_workers:
            cluster.start_worker()
        return bool(result(cluster, request_id)["status"] == "failed")

    until(failed, 600, cluster)
    assert result(cluster, request_id)["error"]["code"] == "delivery_limit_exceeded"
    until(lambda: [letter["request_id"] for letter in parked(cluster)] == [request_id], 60, cluster)

    [letter] = parked(cluster)
    assert letter["reason"] == "delivery_limit_exceeded"
    assert letter["attempts"] == 1
    table = dlq(cluster, "list")
    assert request_id in table.stdout and "delivery_limit_exceeded" in table.stdout
    [again] = parked(cluster)  # listing takes nothing away, and counts no attempt
    assert again | {"age_seconds": 0} == letter | {"age_seconds": 0}

    # The poison removed: workers without the crashing model.
    for worker in cluster.live_workers:
        worker.terminate()
        worker.wait(timeout=60)
    cluster.start_worker(PLAIN_WORKER)
    cluster.wait_until_ready()
    requeue = dlq(cluster, "requeue", request_id)
    assert requeue.returncode == 0, requeue.stderr
    assert f"requeued {request_id}" in requeue.stdout

    finished = result(cluster, request_id, wait=30)
    assert finished["status"] == "succeeded"
    assert (finished["requeued"], finished["attempts"]) == (1, 1)
    assert parked(cluster) == []

    # Something else to park: a message that names no request at all.
    _publish_garbage(cluster)
    until(lambda: len(parked(cluster)) == 1, 60, cluster)
    [garbage] = parked(cluster)
    assert (garbage["request_id"], garbage["reason"]) == (None, "malformed_message")
    assert dlq(cluster, "purge", "--older-than", "3600").stdout.startswith("0 ")
    purge = dlq(cluster, "purge")
    assert purge.returncode == 0 and purge.stdout.startswith("1 ")
    assert parked(cluster) == []


def _publish_garbage(cluster: Cluster) -> None:
    with closing(pika.BlockingConnection(pika.URLParameters(cluster.rabbitmq_url))) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        properties = pika.BasicProperties(
            content_type="image/jpeg",
            delivery_mode=pika.DeliveryMode.Persistent,
            headers={"schema": 1, "top_k": 1, "submitted_at": datetime.now(UTC).isoformat()},
        )
        channel.basic_publish("", cluster.queue_name, b"garbage", properties, mandatory=True)
