"""Live workers in the embedded service: its own worker is listed, counted for readiness and in
/metrics, and a registry that cannot be reached makes readiness say so."""

from __future__ import annotations

import asyncio
import math
import os
import time

from dependency_injector import providers
from fastapi.testclient import TestClient

from adapters.memory import MemoryWorkerRegistry
from entrypoints.container import Container
from entrypoints.settings import ApiSettings, WorkerSettings
from inference.errors import StoreUnavailable
from inference.worker_info import WorkerInfo
from tests.conftest import MakeClient
from tests.contract.worker_registry_contract import a_worker
from tests.service import memory_container
from tests.unit.test_metrics import classify, scrape


class UnreachableRegistry(MemoryWorkerRegistry):
    async def live(self) -> list[WorkerInfo]:
        raise StoreUnavailable("the registry is down")


def test_the_embedded_worker_lists_itself_with_what_it_serves(
    client: TestClient, container: Container
) -> None:
    [worker] = client.get("/api/workers").json()["workers"]

    model = container.model_info()
    assert (worker["model"], worker["model_version"]) == (model.name, model.version)
    assert worker["pid"] == os.getpid()
    assert worker["backend"] == container.config.model.backend()
    assert worker["batch_size"] == container.config.worker.max_batch_size()
    assert worker["last_batch_at"] is None
    assert worker["seen_at"] >= worker["started_at"]


def test_a_worker_says_when_it_last_finished_a_batch(make_client: MakeClient) -> None:
    # Beating every 0.1 s, the worker tells the registry of its batch at once.
    client = make_client(worker=WorkerSettings(heartbeat_ttl_seconds=0.3))
    [before] = client.get("/api/workers").json()["workers"]
    classify(client, 1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        [after] = client.get("/api/workers").json()["workers"]
        if after["last_batch_at"] is not None:
            break
        time.sleep(0.05)
    assert before["last_batch_at"] is None
    assert after["last_batch_at"] >= after["started_at"]


def test_readiness_needs_as_many_live_workers_as_configured(make_client: MakeClient) -> None:
    client = make_client(api=ApiSettings(min_workers=2))

    response = client.get("/api/health/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["workers"] == 1
    assert body["checks"]["workers"].startswith("1 live worker(s) serve")
    assert body["checks"]["workers"].endswith("2 needed")


def test_readiness_counts_only_workers_serving_the_apis_model(make_client: MakeClient) -> None:
    registry = MemoryWorkerRegistry(ttl=15.0)
    asyncio.run(registry.heartbeat(a_worker("elsewhere", model="another-model")))
    container = memory_container(api=ApiSettings(min_workers=2))
    container.worker_registry.override(providers.Object(registry))
    client = make_client(container)

    response = client.get("/api/health/ready")

    assert response.status_code == 503
    assert response.json()["workers"] == 1
    assert len(client.get("/api/workers").json()["workers"]) == 2  # listed all the same


def test_with_min_workers_zero_readiness_needs_none(make_client: MakeClient) -> None:
    container = memory_container(api=ApiSettings(min_workers=0))
    container.worker_registry.override(providers.Object(MemoryWorkerRegistry(ttl=1.0, clock=lambda: 0.0)))
    client = make_client(container)
    assert client.get("/api/health/ready").status_code == 200


def test_an_unreachable_registry_makes_readiness_say_so_and_the_gauge_read_nan(
    make_client: MakeClient,
) -> None:
    container = memory_container()
    container.worker_registry.override(providers.Object(UnreachableRegistry(ttl=15.0)))
    client = make_client(container)

    response = client.get("/api/health/ready")

    assert response.status_code == 503
    assert response.json()["checks"]["workers"] == "unavailable"
    assert response.json()["workers"] is None
    assert client.get("/api/workers").status_code == 503
    assert math.isnan(scrape(client)["inference_workers_alive", ()])


def test_the_live_workers_gauge_counts_the_embedded_worker(client: TestClient) -> None:
    client.get("/api/health/ready")  # counts them now rather than at the next third of the ttl
    assert scrape(client)["inference_workers_alive", ()] == 1


def test_the_openapi_document_describes_the_workers_and_the_readiness_count(client: TestClient) -> None:
    document = client.get("/api/openapi.json").json()
    listed = document["paths"]["/api/workers"]["get"]["responses"]["200"]["content"]["application/json"]
    assert listed["schema"]["$ref"].endswith("/WorkersBody")
    worker = document["components"]["schemas"]["WorkerBody"]["properties"]
    assert {
        "id",
        "host",
        "pid",
        "model",
        "backend",
        "batch_size",
        "started_at",
        "last_batch_at",
        "seen_at",
    } <= set(worker)
    assert "workers" in document["components"]["schemas"]["Readiness"]["properties"]
    assert "requeued" in document["components"]["schemas"]["RequestView"]["properties"]
