"""Idempotency keys across API processes: real RabbitMQ and Redis, two APIs, a worker on the demo model."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from demo.shapes import draw_jpegs
from tests.e2e.serving import DEMO_MODEL_ENV
from tests.harness import SUBMIT
from tests.harness.cluster import Cluster
from tests.metrics import samples
from tests.servers import RABBITMQ_URL, REDIS_URL, require_server

pytestmark = [pytest.mark.slow, pytest.mark.server]


@pytest.fixture(scope="module")
def two_apis() -> Iterator[tuple[Cluster, list[str]]]:
    require_server("RabbitMQ", RABBITMQ_URL)
    require_server("Redis", REDIS_URL)
    with tempfile.TemporaryDirectory(prefix="idempotency-") as root:
        cluster = Cluster(RABBITMQ_URL, REDIS_URL, Path(root), env=DEMO_MODEL_ENV, tag="test.idempotency")
        try:
            cluster.start_api()
            cluster.start_worker()
            cluster.wait_until_ready()
            yield cluster, [cluster.api_url, cluster.start_another_api()]
        finally:
            cluster.stop()
            cluster.clean_up()


def test_twenty_concurrent_posts_with_one_key_through_two_apis_run_the_model_once(
    two_apis: tuple[Cluster, list[str]],
) -> None:
    cluster, apis = two_apis
    [(_, image)] = draw_jpegs(1, seed=3)
    before = cluster.store_keys()

    def post(index: int) -> httpx.Response:
        with httpx.Client(base_url=apis[index % 2], timeout=30) as client:
            return client.post(
                SUBMIT,
                headers={"Idempotency-Key": "one-photo"},
                files={"image": ("a.jpg", image, "image/jpeg")},
            )

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(post, range(20)))

    assert [a.status_code for a in answers] == [202] * 20, [a.text for a in answers if a.status_code != 202]
    [request_id] = {a.json()["request_id"] for a in answers}
    with httpx.Client(base_url=apis[0], timeout=40) as client:
        record = client.get(f"{SUBMIT}/{request_id}/results", params={"wait": 30}).json()
    assert record["status"] == "succeeded"
    assert record["attempts"] == 1
    after = cluster.store_keys()
    assert {k: v for k, v in after.items() if k not in before} == {request_id: "succeeded"}  # one record
    published = [samples(f"{url}/metrics") for url in apis]
    assert sum(s.get(("inference_requests_total", (("outcome", "accepted"),)), 0) for s in published) == 1
    assert sum(s.get(("inference_requests_total", (("outcome", "replayed"),)), 0) for s in published) == 19
    [worker] = cluster.live_workers
    in_worker = samples(worker.metrics_url)  # type: ignore[attr-defined]
    assert in_worker["inference_queue_wait_seconds_count", ()] == 1  # one message delivered
    assert in_worker["inference_batch_size_sum", ()] == 1  # and the model ran one image


def test_the_same_key_with_another_image_is_refused_by_the_other_api(
    two_apis: tuple[Cluster, list[str]],
) -> None:
    _, apis = two_apis
    [(_, first), (_, second)] = draw_jpegs(2, seed=5)
    headers = {"Idempotency-Key": "reused-elsewhere"}

    accepted = httpx.post(
        f"{apis[0]}{SUBMIT}", headers=headers, files={"image": ("a.jpg", first)}, timeout=30
    )
    refused = httpx.post(
        f"{apis[1]}{SUBMIT}", headers=headers, files={"image": ("b.jpg", second)}, timeout=30
    )

    assert accepted.status_code == 202
    assert (refused.status_code, refused.json()["code"]) == (409, "idempotency_key_reused")
