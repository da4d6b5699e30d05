"""Live workers across processes: an API and two workers, each worker a scrape target of its
own, both listed by the API; a killed one drops out within its time-to-live and readiness
follows INFERENCE_API__MIN_WORKERS."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness.cluster import Cluster
from tests.metrics import samples_of
from tests.servers import RABBITMQ_URL, REDIS_URL, require_server

pytestmark = [pytest.mark.slow, pytest.mark.server]

TTL = 3.0  # short, so that a killed worker drops out within the test


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    require_server("RabbitMQ", RABBITMQ_URL)
    require_server("Redis", REDIS_URL)
    env = {
        "INFERENCE_API__MIN_WORKERS": "2",
        "INFERENCE_WORKER__HEARTBEAT_TTL_SECONDS": str(TTL),
        "INFERENCE_MODEL__THREADS": "1",
    }
    cluster = Cluster(RABBITMQ_URL, REDIS_URL, tmp_path, env=env, tag="test.workers")
    try:
        cluster.start_api()
        cluster.start_worker()
        cluster.start_worker()
        cluster.wait_until_ready()  # readiness needs both workers
        yield cluster
    finally:
        cluster.stop()
        cluster.clean_up()


def listed_pids(cluster: Cluster) -> list[int]:
    workers = httpx.get(f"{cluster.api_url}/api/workers", timeout=10).raise_for_status().json()["workers"]
    return sorted(worker["pid"] for worker in workers)


def until(condition: object, seconds: float) -> float:
    """Seconds until `condition()` held (polling); fails past `seconds`."""
    start = time.monotonic()
    while not condition():  # type: ignore[operator]
        assert time.monotonic() - start < seconds, "the condition never held"
        time.sleep(0.1)
    return time.monotonic() - start


def test_live_workers_are_listed_and_a_killed_one_drops_out_within_its_ttl(cluster: Cluster) -> None:
    first, second = cluster.workers
    for worker in (first, second):
        metrics = samples_of(httpx.get(worker.metrics_url, timeout=10).raise_for_status().text)  # type: ignore[attr-defined]
        assert any(name == "inference_model_info" for name, _ in metrics)
    assert listed_pids(cluster) == sorted([first.pid, second.pid])
    ready = httpx.get(f"{cluster.api_url}/api/health/ready", timeout=10)
    assert ready.status_code == 200 and ready.json()["workers"] == 2
    until(lambda: api_gauge(cluster) == 2, TTL * 3)

    cluster.kill_worker(first)  # SIGKILL: no goodbye, only its heartbeats stop
    dropped_after = until(lambda: listed_pids(cluster) == [second.pid], TTL * 3)
    print(f"\nthe killed worker dropped out of /api/workers after {dropped_after:.1f} s (TTL {TTL} s)")

    not_ready = httpx.get(f"{cluster.api_url}/api/health/ready", timeout=10)
    assert not_ready.status_code == 503
    assert not_ready.json()["workers"] == 1
    assert not_ready.json()["checks"]["workers"].endswith("2 needed")
    until(lambda: api_gauge(cluster) == 1, TTL * 3)

    second.terminate()  # SIGTERM: a graceful stop leaves the list at once, not after the TTL
    second.wait(timeout=60)
    assert listed_pids(cluster) == []


def api_gauge(cluster: Cluster) -> float:
    text = httpx.get(f"{cluster.api_url}/metrics", timeout=10).raise_for_status().text
    return samples_of(text)["inference_workers_alive", ()]
