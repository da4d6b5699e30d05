"""Nothing is lost: real API and worker processes, a RabbitMQ and a Redis the test owns, faults.

Each test keeps a ledger of every 202 its clients got, injects a fault, and then accounts for
every accepted request: lost (never terminal), duplicated (one id accepted twice), unexpected
(work done for a request no client was told about). The accounting is printed (`pytest -s`).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime

import httpx
import pika
import pytest

from demo.shapes import draw_jpegs
from entrypoints.container import create_container, stop_adapters
from entrypoints.settings import QueueSettings, Settings
from inference.domain import InferenceRequest, RequestId, RequestRecord, RequestStatus
from tests.harness import SUBMIT
from tests.harness.cluster import Cluster
from tests.harness.ledger import Ledger
from tests.images import truncated_jpeg
from tests.queues import redis_store
from tests.servers.rabbitmq import PrivateRabbitMQ, private_rabbitmq
from tests.servers.redis import PrivateRedis, private_redis

pytestmark = [pytest.mark.slow, pytest.mark.server]

WORKERS = 2
# Short store and broker timeouts so that an outage shows within the test; one model thread each,
# as the workers share the machine's cores with everything else.
FAULT_ENV = {
    "INFERENCE_STORE__TIMEOUT_SECONDS": "1",
    "INFERENCE_QUEUE__TIMEOUT_SECONDS": "3",
    "INFERENCE_MODEL__THREADS": "1",
    "INFERENCE_LOG_LEVEL": "INFO",
}


@pytest.fixture(scope="module")
def rabbitmq() -> Iterator[PrivateRabbitMQ]:
    with private_rabbitmq() as server:
        yield server


@pytest.fixture(scope="module")
def redis_server() -> Iterator[PrivateRedis]:
    with private_redis() as server:
        yield server


@pytest.fixture(scope="module")
def cluster(
    rabbitmq: PrivateRabbitMQ, redis_server: PrivateRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("cluster")
    cluster = Cluster(rabbitmq.url, redis_server.url, root, env=FAULT_ENV, tag="test.e2e")
    cluster.start_api()
    for _ in range(WORKERS):
        cluster.start_worker()
    try:
        cluster.wait_until_ready()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def healthy(cluster: Cluster) -> Cluster:
    """The cluster with its full complement of workers, whatever an earlier test killed."""
    for _ in range(WORKERS - len(cluster.live_workers)):
        cluster.start_worker()
    cluster.wait_until_ready()
    return cluster


@pytest.fixture(scope="module")
def images() -> list[tuple[str, bytes]]:
    return draw_jpegs(90, seed=3)


@contextmanager
def under_load(cluster: Cluster, images: list[tuple[str, bytes]]) -> Iterator[Ledger]:
    """Four clients submit without pause for as long as the block runs; the ledger of it all."""
    ledger, stop = Ledger(baseline=set(cluster.store_keys())), threading.Event()
    clients = ledger.submit_until(cluster.api_url, images, stop)
    try:
        yield ledger
    finally:
        stop.set()
        clients.shutdown(wait=True)


def account_for(cluster: Cluster, ledger: Ledger, title: str) -> None:
    ledger.settle(cluster.api_url)
    account = ledger.account(cluster.store_keys())
    print("\n" + account.report(title))
    assert account.lost == [], f"{len(account.lost)} accepted requests never finished\n{cluster.logs()}"
    assert account.duplicated == []
    assert account.unexpected == []
    assert account.wrong_label <= max(1, account.succeeded // 50)  # the demo model is 99.8 % right
    assert ledger.errors == [], ledger.errors[:5]


def test_poison_messages_end_failed_without_blocking_the_queue(
    healthy: Cluster, rabbitmq: PrivateRabbitMQ, images: list[tuple[str, bytes]]
) -> None:
    # 1. A crafted message naming a real (queued) request, whose body is not an image.
    victim = RequestId.new()
    asyncio.run(_add_queued_record(healthy, victim))
    _publish_raw(rabbitmq, healthy.queue_name, b"\x00not an image", message_id=str(victim))
    # 2. A crafted message that names no request at all.
    _publish_raw(rabbitmq, healthy.queue_name, b"garbage", message_id=None)
    # 3. An upload whose header passes the API's checks but whose data no decoder can read.
    ledger = Ledger()
    with httpx.Client(base_url=healthy.api_url, timeout=30) as client:
        undecodable = ledger.submit(client, "n/a", truncated_jpeg())
    assert undecodable is not None
    # 4. Ordinary work behind them still flows.
    ledger.submit_all(healthy.api_url, images[:30])

    final = ledger.settle(healthy.api_url)
    poisoned = _wait_for_status(healthy, victim, RequestStatus.FAILED)

    assert poisoned.failure is not None and poisoned.failure.code == "malformed_message"
    assert final[undecodable]["status"] == "failed"
    assert final[undecodable]["error"]["code"] == "invalid_image"
    ordinary = [body for rid, body in final.items() if rid != undecodable]
    assert [b["status"] for b in ordinary] == ["succeeded"] * 30
    assert _queue_depths(rabbitmq, healthy.queue_name) == (0, 0)  # nothing stuck, no dead letter left
    print(
        f"\n[poison] crafted → {poisoned.failure.code}; undecodable upload → invalid_image; 30/30 after them"
    )


def test_a_duplicate_publish_of_a_finished_request_changes_nothing(
    healthy: Cluster, rabbitmq: PrivateRabbitMQ, images: list[tuple[str, bytes]]
) -> None:
    label, image = images[0]
    ledger = Ledger()
    with httpx.Client(base_url=healthy.api_url, timeout=30) as client:
        request_id = ledger.submit(client, label, image)
    assert request_id is not None
    first = ledger.settle(healthy.api_url)[request_id]
    assert first["status"] == "succeeded"

    duplicate = InferenceRequest(RequestId.parse(request_id), image, "image/jpeg", 5, datetime.now(UTC))
    asyncio.run(_publish_twice(healthy, duplicate))
    _wait_for_empty_queue(rabbitmq, healthy.queue_name)

    with httpx.Client(base_url=healthy.api_url, timeout=30) as client:
        again = client.get(f"{SUBMIT}/{request_id}/results").json()
    assert again == first  # same result, same completion time, same attempt count: never re-run
    print(f"\n[duplicate] 2 extra publishes of {request_id}: record unchanged, attempts {again['attempts']}")


def test_killing_a_worker_in_the_middle_of_a_batch_loses_nothing(
    healthy: Cluster, images: list[tuple[str, bytes]]
) -> None:
    victim = healthy.live_workers[0]
    with under_load(healthy, images) as ledger:
        time.sleep(3.0)  # the queue is busy: the worker holds a batch and prefetched deliveries
        healthy.kill_worker(victim)  # kill -9: no chance to finish, ack or say goodbye
        time.sleep(2.0)
        healthy.start_worker()  # as an orchestrator would
        time.sleep(2.0)

    account_for(healthy, ledger, "kill -9 of a worker")
    assert victim.returncode == -9


def test_a_worker_stopped_with_sigterm_finishes_its_batch_and_exits_0(
    healthy: Cluster, images: list[tuple[str, bytes]]
) -> None:
    leaving = healthy.live_workers[0]
    with under_load(healthy, images) as ledger:
        time.sleep(2.0)
        leaving.terminate()  # SIGTERM, as docker stop and Kubernetes send
        leaving.wait(timeout=60)
        time.sleep(1.0)

    account_for(healthy, ledger, "SIGTERM of a worker")
    assert leaving.returncode == 0


def test_pausing_redis_while_workers_finish_a_batch_loses_nothing(
    healthy: Cluster, redis_server: PrivateRedis, images: list[tuple[str, bytes]]
) -> None:
    with under_load(healthy, images) as ledger:
        time.sleep(2.0)
        redis_server.pause()  # SIGSTOP: connections stay open, nothing answers
        time.sleep(4.0)
        redis_server.resume()
        time.sleep(2.0)

    account_for(healthy, ledger, "Redis frozen for 4 s")
    assert ledger.refused[503] > 0  # while it was frozen the API said so, quickly


def test_restarting_the_broker_under_load_loses_nothing(
    healthy: Cluster, rabbitmq: PrivateRabbitMQ, images: list[tuple[str, bytes]]
) -> None:
    with under_load(healthy, images) as ledger:
        time.sleep(2.0)
        rabbitmq.restart()  # a clean stop and start: persistent messages on a quorum queue survive
        back_at = time.monotonic()
        # The publisher tries again at most every 5 s (reconnect_backoff), then declares its
        # queues: on a loaded machine the first acceptance can come a few seconds past that.
        until = back_at + 30.0
        while time.monotonic() < until and not any(t > back_at for t in ledger.accepted_at.values()):
            time.sleep(0.2)
        time.sleep(2.0)  # and some load after it

    accepted_after = sum(1 for t in ledger.accepted_at.values() if t > back_at)
    account_for(healthy, ledger, "broker restart")
    assert accepted_after > 0, "the API did not take work again after the broker came back"
    first = min((t for t in ledger.accepted_at.values() if t > back_at), default=math.nan) - back_at
    print(f"[broker restart] accepted after it came back: {accepted_after}, the first {first:.1f} s on")


# --- helpers ---


async def _add_queued_record(cluster: Cluster, request_id: RequestId) -> None:
    store = redis_store(cluster.redis_url, ttl=600, key_prefix=cluster.key_prefix)
    try:
        request = InferenceRequest(request_id, b"\xff\xd8\xff", "image/jpeg", 1, datetime.now(UTC))
        await store.add(RequestRecord.queued(request))
    finally:
        await store.aclose()


def _wait_for_status(cluster: Cluster, request_id: RequestId, status: RequestStatus) -> RequestRecord:
    async def wait() -> RequestRecord:
        store = redis_store(cluster.redis_url, ttl=600, key_prefix=cluster.key_prefix)
        try:
            return await store.wait_for_terminal(request_id, 30)
        finally:
            await store.aclose()

    record = asyncio.run(wait())
    assert record.status is status, record
    return record


def _publish_raw(rabbitmq: PrivateRabbitMQ, queue: str, body: bytes, message_id: str | None) -> None:
    with closing(pika.BlockingConnection(pika.URLParameters(rabbitmq.url))) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        properties = pika.BasicProperties(
            message_id=message_id,
            content_type="image/jpeg",
            delivery_mode=pika.DeliveryMode.Persistent,
            headers={"schema": 1, "top_k": 1, "submitted_at": datetime.now(UTC).isoformat()},
        )
        channel.basic_publish("", queue, body, properties, mandatory=True)


async def _publish_twice(cluster: Cluster, request: InferenceRequest) -> None:
    # Through the same container and settings as the processes: the same queue, declared alike.
    settings = Settings(
        mode="distributed", rabbitmq_url=cluster.rabbitmq_url, queue=QueueSettings(name=cluster.queue_name)
    )
    container = create_container(settings)
    try:
        queue = container.publisher()
        await queue.publish(request)
        await queue.publish(request)
    finally:
        await stop_adapters(container)


def _queue_depths(rabbitmq: PrivateRabbitMQ, queue: str) -> tuple[int, int]:
    """Messages ready in the queue and in its dead-letter queue."""
    with closing(pika.BlockingConnection(pika.URLParameters(rabbitmq.url))) as connection:
        channel = connection.channel()
        main = channel.queue_declare(queue, passive=True).method.message_count
        dead = channel.queue_declare(f"{queue}.dead", passive=True).method.message_count
        return main, dead


def _wait_for_empty_queue(rabbitmq: PrivateRabbitMQ, queue: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while _queue_depths(rabbitmq, queue) != (0, 0):
        assert time.monotonic() < deadline, "the queue did not drain"
        time.sleep(0.2)
    time.sleep(1.0)  # and let a worker finish what it took (it acks without running the model)
