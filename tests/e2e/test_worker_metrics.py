"""A distributed worker is its own scrape target: its metrics port answers with what it did."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from demo.shapes import draw_jpegs
from tests.harness import SUBMIT
from tests.harness.cluster import Cluster
from tests.metrics import samples
from tests.servers.rabbitmq import private_rabbitmq
from tests.servers.redis import private_redis

pytestmark = [pytest.mark.slow, pytest.mark.server]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with private_rabbitmq() as rabbitmq, private_redis() as redis_server:
        cluster = Cluster(rabbitmq.url, redis_server.url, Path(tmp_path_factory.mktemp("cluster")))
        cluster.start_api()
        cluster.start_worker()
        try:
            cluster.wait_until_ready()
            yield cluster
        finally:
            cluster.stop()


def test_each_process_serves_the_metrics_of_its_own_side_of_the_queue(cluster: Cluster) -> None:
    with httpx.Client(base_url=cluster.api_url, timeout=30) as client:
        ids = [
            client.post(SUBMIT, files={"image": (name, image, "image/jpeg")}).json()["request_id"]
            for name, image in draw_jpegs(5, seed=11)
        ]
        results = [client.get(f"{SUBMIT}/{i}/results", params={"wait": 30}).json() for i in ids]
    assert [r["status"] for r in results] == ["succeeded"] * 5
    assert all(r["timings"]["model"] > 0 for r in results)

    [worker] = cluster.live_workers
    in_worker = samples(worker.metrics_url)  # type: ignore[attr-defined]
    assert in_worker["inference_results_total", (("code", "none"), ("status", "succeeded"))] == 5
    assert in_worker["inference_queue_wait_seconds_count", ()] == 5
    assert in_worker["inference_batch_size_sum", ()] == 5
    assert any(name == "inference_model_info" for name, _ in in_worker)
    assert in_worker["inference_queue_depth", (("state", "ready"),)] == 0  # a passive declare's count

    in_api = samples(f"{cluster.api_url}/metrics")
    assert in_api["inference_requests_total", (("outcome", "accepted"),)] == 5
    assert in_api["inference_batch_size_count", ()] == 0  # the API forms no batch
