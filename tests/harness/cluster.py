"""The service as real processes: the distributed deployment in miniature, and `inference serve`.

`Cluster` runs one `inference api` and any number of workers (the real console script, or any
command that serves the worker) against a RabbitMQ and a Redis, under a queue name and key
prefix of its own, so that it never touches anyone else's data. The fault tests give it servers
they own and break; the benchmarks give it the shared ones (`launched` cleans up after itself).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pika
import pika.exceptions
import redis

from tests.harness import free_port, wait_until_ready
from tests.servers import RABBITMQ_URL, REDIS_URL

ROOT = Path(__file__).resolve().parents[2]
INFERENCE = str(Path(sys.executable).parent / "inference")
START_TIMEOUT = 180.0  # a process imports torch and loads the model; CI machines are slow


class Cluster:
    def __init__(
        self,
        rabbitmq_url: str,
        redis_url: str,
        root: Path,
        *,
        env: Mapping[str, str] | None = None,
        worker_command: Sequence[str] = (INFERENCE, "worker"),
        tag: str = "test",
    ) -> None:
        self.rabbitmq_url, self.redis_url, self.root = rabbitmq_url, redis_url, root
        unique = uuid.uuid4().hex[:8]
        self.queue_name, self.key_prefix = f"{tag}.{unique}", f"{tag}:{unique}:"
        self.api_url = f"http://127.0.0.1:{free_port()}"
        self.api: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.more_apis: dict[str, subprocess.Popen[bytes]] = {}  # url → another API process
        self._env, self._worker_command = dict(env or {}), list(worker_command)
        self._heartbeats: dict[int, Path] = {}  # a worker's pid → the file it beats once its model is loaded

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "INFERENCE_MODE": "distributed",
            "INFERENCE_RABBITMQ_URL": self.rabbitmq_url,
            "INFERENCE_REDIS_URL": self.redis_url,
            "INFERENCE_QUEUE__NAME": self.queue_name,
            "INFERENCE_STORE__KEY_PREFIX": self.key_prefix,
            **self._env,
            **extra,
        }

    def start_api(self) -> None:
        port = self.api_url.rsplit(":", 1)[1]
        self.api = self._spawn("api", [INFERENCE, "api", "--port", port], self.env())

    def start_another_api(self) -> str:
        """One more API process on the same queue and store (as behind a load balancer): its URL,
        once ready."""
        url = f"http://127.0.0.1:{free_port()}"
        api = self._spawn(
            f"api-{len(self.more_apis) + 1}", [INFERENCE, "api", "--port", url.rsplit(":", 1)[1]], self.env()
        )
        self.more_apis[url] = api
        if not wait_until_ready(url, START_TIMEOUT, alive=lambda: api.poll() is None):
            raise RuntimeError(f"the API at {url} was not ready\n{self.logs()}")
        return url

    def start_worker(self, command: Sequence[str] | None = None, **env: str) -> subprocess.Popen[bytes]:
        """A worker running the cluster's worker command, or `command`, with `env` added to the
        cluster's environment for it alone."""
        number = len(self.workers)
        heartbeat = self.root / f"worker-{number}.heartbeat"
        metrics_port = free_port()  # workers on one host cannot share the default port
        worker = self._spawn(
            f"worker-{number}",
            list(command or self._worker_command),
            self.env(
                INFERENCE_WORKER__HEARTBEAT_FILE=str(heartbeat),
                INFERENCE_WORKER__METRICS_PORT=str(metrics_port),
                **env,
            ),
        )
        worker.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"  # type: ignore[attr-defined]
        self._heartbeats[worker.pid] = heartbeat
        self.workers.append(worker)
        return worker

    def wait_until_ready(self, timeout: float = START_TIMEOUT) -> None:
        """The API answers ready and every live worker has loaded its model (its first beat)."""
        deadline = time.monotonic() + timeout
        api_up = wait_until_ready(self.api_url, timeout, alive=self._starting_well)
        while api_up and time.monotonic() < deadline and self._starting_well():
            if all(self._heartbeats[w.pid].exists() for w in self.live_workers):
                return
            time.sleep(0.2)
        if not self._api_alive():
            assert self.api is not None
            raise RuntimeError(f"the API exited with {self.api.returncode}\n{self.logs()}")
        # At once, not after the timeout: the API is not ready without a worker, and would be waited for.
        for number, worker in enumerate(self.workers):
            if self._failed_to_start(worker):
                why = f"worker-{number} exited with {worker.returncode} before its model was loaded"
                raise RuntimeError(f"{why}\n{self.logs()}")
        raise TimeoutError(f"the cluster was not ready within {timeout:.0f} s\n{self.logs()}")

    @property
    def live_workers(self) -> list[subprocess.Popen[bytes]]:
        return [w for w in self.workers if w.poll() is None]

    def kill_worker(self, worker: subprocess.Popen[bytes]) -> None:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)

    def stop(self) -> None:
        everyone = [self.api, *self.more_apis.values(), *self.workers]
        processes = [p for p in everyone if p is not None and p.poll() is None]
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
                    found[request_id] = str(json.loads(raw)["status"])
            return found
        finally:
            client.close()

    def clean_up(self) -> None:
        """Delete the cluster's queues and keys from servers that outlive it."""
        try:
            connection = pika.BlockingConnection(pika.URLParameters(self.rabbitmq_url))
            channel = connection.channel()
            for name in (self.queue_name, f"{self.queue_name}.dead", f"{self.queue_name}.parked"):
                channel.queue_delete(name)
            connection.close()
        except pika.exceptions.AMQPError as exc:
            print(f"could not delete the cluster's queues: {exc!r}", file=sys.stderr)
        client = redis.Redis.from_url(self.redis_url)
        try:
            keys = list(client.scan_iter(match=f"{self.key_prefix}*", count=10_000))
            for offset in range(0, len(keys), 1000):
                client.delete(*keys[offset : offset + 1000])
        finally:
            client.close()

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.root / f"{name}.log").open("ab")
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def _api_alive(self) -> bool:
        return self.api is not None and self.api.poll() is None

    def _starting_well(self) -> bool:
        """The API runs and no worker has exited before its first beat (a worker a test killed
        after it was ready does not count)."""
        return self._api_alive() and not any(self._failed_to_start(w) for w in self.workers)

    def _failed_to_start(self, worker: subprocess.Popen[bytes]) -> bool:
        return worker.poll() is not None and not self._heartbeats[worker.pid].exists()


@contextlib.contextmanager
def launched(
    workers: int = 1,
    *,
    env: Mapping[str, str] | None = None,
    worker_command: Sequence[str] = (INFERENCE, "worker"),
    rabbitmq_url: str = RABBITMQ_URL,
    redis_url: str = REDIS_URL,
    tag: str = "bench",
) -> Iterator[Cluster]:
    """A cluster on the shared servers, ready (every worker's model loaded); cleaned up after."""
    env = {"INFERENCE_LOG_LEVEL": "WARNING", **(env or {})}  # no access log line per request
    with tempfile.TemporaryDirectory(prefix=f"{tag}-cluster-") as root:
        cluster = Cluster(
            rabbitmq_url, redis_url, Path(root), env=env, worker_command=worker_command, tag=tag
        )
        try:
            cluster.start_api()
            for _ in range(workers):
                cluster.start_worker()
            cluster.wait_until_ready()
            if len(cluster.live_workers) < workers:
                raise RuntimeError(f"a worker exited while starting\n{cluster.logs()}")
            yield cluster
        finally:
            cluster.stop()
            cluster.clean_up()


@contextlib.contextmanager
def inference_serve(
    timeout: float = START_TIMEOUT, env: Mapping[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`inference serve` as a user runs it, in its own process on a spare port: (url, process)."""
    url = f"http://127.0.0.1:{free_port()}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [INFERENCE, "serve", "--port", url.rsplit(":", 1)[1]],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=log,
        )
        try:
            if not wait_until_ready(url, timeout, alive=lambda: process.poll() is None):
                log.seek(0)
                raise RuntimeError(
                    f"inference serve was not ready within {timeout:.0f} s:\n{log.read()[-3000:]!r}"
                )
            yield url, process
        finally:
            process.terminate()
            process.wait(timeout=30)
