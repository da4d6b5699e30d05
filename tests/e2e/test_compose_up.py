"""The project's own compose.yaml, built and run: the images, scaling, stops, kills and restarts.

Installs what it lacks (docker.io, docker-compose, debootstrap), starts `dockerd` if no engine
answers, builds on stand-in base images where no registry answers (tests/e2e/docker_engine.py).
Only the API publishes a port, a free one, and the project name is unique, so nothing collides
with servers already running on the machine. A ledger accounts for every 202 after each step
(printed: `pytest -s`); nothing may be lost. Afterwards: `down -v`, and the images it built are
removed (the base images and BuildKit's package caches stay, for the next run).
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from demo.shapes import draw_jpegs
from tests.e2e import docker_engine
from tests.harness import free_port, wait_until_ready
from tests.harness.ledger import Ledger

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

ROOT = Path(__file__).resolve().parents[2]
MODEL_LIBRARIES = ("torch", "timm", "openvino", "onnxruntime")
HEALTHY_WITHIN = 300.0


@dataclass
class Deployment:
    env: dict[str, str]
    compose: list[str]
    api_url: str
    images: dict[str, str]  # role -> image name

    def __call__(self, *args: str, timeout: float = 600) -> str:
        return docker_engine.run([*self.compose, *args], self.env, timeout=timeout, cwd=ROOT).stdout

    def docker(self, *args: str, timeout: float = 300) -> str:
        return docker_engine.run(["docker", *args], self.env, timeout=timeout).stdout

    def containers(self, service: str) -> list[str]:
        return sorted(self("ps", "-q", service).split())

    def wait_healthy(self, timeout: float = HEALTHY_WITHIN) -> None:
        """Every container of the project running and healthy (by its own health check)."""
        deadline = time.monotonic() + timeout
        while True:
            ids = self("ps", "-q").split()
            states = {
                cid: self.docker("inspect", "-f", "{{.State.Status}} {{.State.Health.Status}}", cid).strip()
                for cid in ids
            }
            if ids and all(state == "running healthy" for state in states.values()):
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"not healthy within {timeout:.0f} s: {states}\n{self('logs', '--tail=30')}"
                )
            time.sleep(2)

    def logs(self, container: str) -> str:
        result = docker_engine.run(["docker", "logs", container], self.env, timeout=60)
        return result.stdout + result.stderr


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    try:
        installed = docker_engine.install_missing()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    if installed:
        print(f"installed {', '.join(installed)}")
    with docker_engine.engine() as env:
        tag = f"e2e-{uuid.uuid4().hex[:8]}"
        env = {
            **env,
            **docker_engine.base_images(env),
            "COMPOSE_PROJECT_NAME": f"inference-{tag}",
            "INFERENCE_IMAGE_TAG": tag,
            "INFERENCE_API_PORT": str(free_port()),
            # The shapes model: the ledger knows each drawn image's true label.
            "MODEL_MANIFEST": "demo/model/model.yaml",
            "INFERENCE_MODEL__MANIFEST": "demo",
        }
        print({key: env[key] for key in docker_engine.BASES})
        deployment = Deployment(
            env=env,
            compose=docker_engine.compose_command(env),
            api_url=f"http://127.0.0.1:{env['INFERENCE_API_PORT']}",
            images={role: f"inference-service-{role}:{tag}" for role in ("api", "worker")},
        )
        try:
            started = time.monotonic()
            deployment("up", "-d", "--build", timeout=3600)
            print(f"up -d --build: {time.monotonic() - started:.0f} s")
            yield deployment
        finally:
            deployment("down", "-v", "--remove-orphans", timeout=300)
            for image in deployment.images.values():
                docker_engine.run(["docker", "image", "rm", "-f", image], env, check=False)
            docker_engine.run(["docker", "image", "prune", "-f"], env, check=False)


@pytest.fixture(scope="module")
def images() -> list[tuple[str, bytes]]:
    return draw_jpegs(60, seed=11)


def importable(deployment: Deployment, image: str, modules: tuple[str, ...]) -> list[str]:
    probe = f"import importlib.util as u; print(' '.join(m for m in {modules!r} if u.find_spec(m)))"
    return deployment.docker("run", "--rm", image, "python", "-c", probe).split()


def test_the_api_image_has_no_model_library_and_the_worker_image_no_torch(deployment: Deployment) -> None:
    for role, image in deployment.images.items():
        size = int(deployment.docker("image", "inspect", "-f", "{{.Size}}", image))
        print(f"image {role}: {size / 1e6:.0f} MB")

    assert importable(deployment, deployment.images["api"], (*MODEL_LIBRARIES, "numpy")) == []
    worker = importable(deployment, deployment.images["worker"], MODEL_LIBRARIES)
    assert "torch" not in worker and "timm" not in worker
    assert "openvino" in worker


@contextmanager
def under_load(deployment: Deployment, images: list[tuple[str, bytes]], title: str) -> Iterator[Ledger]:
    """Clients submit without pause while the block runs; then every 202 must become a result."""
    ledger, stop = Ledger(), threading.Event()
    pool = ledger.submit_until(deployment.api_url, images, stop, threads=2)
    try:
        time.sleep(3)  # the queue fills before the fault
        yield ledger
        time.sleep(3)
    finally:
        stop.set()
        pool.shutdown(wait=True)
    ledger.settle(deployment.api_url, timeout=240)
    account = ledger.account({})
    print(account.report(title))
    assert account.accepted > 0, ledger.errors[:3]
    assert account.lost == [], account.report(title)
    assert account.duplicated == []
    assert account.wrong_label == 0


def test_the_deployment_classifies_real_images_through_the_published_port(
    deployment: Deployment, images: list[tuple[str, bytes]]
) -> None:
    deployment.wait_healthy()
    assert wait_until_ready(deployment.api_url, timeout=60)
    ledger = Ledger()
    ledger.submit_all(deployment.api_url, images, threads=2)
    ledger.settle(deployment.api_url)
    account = ledger.account({})
    print(account.report("up"))

    assert account.accepted == len(images), ledger.errors[:3]
    assert account.succeeded == len(images)
    assert account.lost == []
    assert account.wrong_label == 0


def deliveries(log: str) -> list[int]:
    return [int(n) for n in re.findall(r"worker stopped after (\d+) deliveries", log)]


def test_three_workers_take_batches(deployment: Deployment, images: list[tuple[str, bytes]]) -> None:
    deployment("up", "-d", "--scale", "worker=3", "--no-recreate")
    deployment.wait_healthy()
    workers = deployment.containers("worker")
    assert len(workers) == 3

    with under_load(deployment, images * 3, "scale to 3"):
        time.sleep(10)
    # Each says on SIGTERM how many deliveries it handled; then they are started again.
    deployment("stop", "worker", timeout=300)
    handled = {worker: deliveries(deployment.logs(worker)) for worker in workers}
    deployment("start", "worker")
    deployment.wait_healthy()

    print(f"deliveries per worker: {[counts[-1:] for counts in handled.values()]}")
    assert all(counts and counts[-1] > 0 for counts in handled.values()), handled


def test_a_stopped_worker_finishes_its_batch_and_nothing_is_lost(
    deployment: Deployment, images: list[tuple[str, bytes]]
) -> None:
    worker = deployment.containers("worker")[0]

    with under_load(deployment, images * 3, "docker stop (SIGTERM) a worker"):
        deployment.docker("stop", worker)

    assert "finishing the batches in hand" in deployment.logs(worker)
    deployment("start", "worker")
    deployment.wait_healthy()


def test_a_killed_worker_loses_nothing_its_requests_are_redelivered(
    deployment: Deployment, images: list[tuple[str, bytes]]
) -> None:
    worker = deployment.containers("worker")[1]

    with under_load(deployment, images * 3, "docker kill (SIGKILL) a worker"):
        deployment.docker("kill", worker)

    deployment("start", "worker")
    deployment.wait_healthy()


def test_the_durable_queue_and_the_stored_results_survive_restarting_the_servers(
    deployment: Deployment, images: list[tuple[str, bytes]]
) -> None:
    # Results stored before the restart, and requests still queued across it (no worker runs).
    done = Ledger()
    done.submit_all(deployment.api_url, images[:10], threads=2)
    before = done.settle(deployment.api_url)
    deployment("stop", "worker", timeout=300)
    queued = Ledger()
    queued.submit_all(deployment.api_url, images[10:30], threads=2)
    assert len(queued.accepted) == 20

    deployment("restart", "rabbitmq", "redis", timeout=300)
    deployment("start", "worker")
    deployment.wait_healthy()
    assert wait_until_ready(deployment.api_url, timeout=120)

    after = done.settle(deployment.api_url)
    kept = done.account({})
    queued.settle(deployment.api_url, timeout=240)
    across = queued.account({})
    print(kept.report("restart: results stored before"))
    print(across.report("restart: queued across it"))
    assert {rid: body["status"] for rid, body in after.items()} == {
        rid: body["status"] for rid, body in before.items()
    }
    assert kept.succeeded == 10
    assert across.succeeded == 20
    assert across.lost == []
