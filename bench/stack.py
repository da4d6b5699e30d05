"""The distributed service in miniature for benchmarks: one `inference api` and N workers as
real processes, on the shared RabbitMQ and Redis, under a queue name and key prefix of their own
(removed afterwards), so a benchmark never touches anyone's data.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import pika
import redis

from entrypoints.client import wait_until_ready

ROOT = Path(__file__).resolve().parent.parent
INFERENCE = str(Path(sys.executable).parent / "inference")
RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
START_TIMEOUT = 180.0


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Stack:
    """`with Stack(workers=2) as stack:` → the API at `stack.url`, ready, every worker's model loaded."""

    def __init__(
        self,
        workers: int = 1,
        worker_command: Sequence[str] = (INFERENCE, "worker"),
        env: dict[str, str] | None = None,
        rabbitmq_url: str = RABBITMQ_URL,
        redis_url: str = REDIS_URL,
    ) -> None:
        tag = uuid.uuid4().hex[:8]
        self.queue_name, self.key_prefix = f"bench.{tag}", f"bench:{tag}:"
        self.rabbitmq_url, self.redis_url = rabbitmq_url, redis_url
        self.url = f"http://127.0.0.1:{free_port()}"
        self._workers, self._worker_command = workers, list(worker_command)
        self._env = {
            **os.environ,
            "INFERENCE_MODE": "distributed",
            "INFERENCE_RABBITMQ_URL": rabbitmq_url,
            "INFERENCE_REDIS_URL": redis_url,
            "INFERENCE_QUEUE__NAME": self.queue_name,
            "INFERENCE_STORE__KEY_PREFIX": self.key_prefix,
            "INFERENCE_LOG_LEVEL": "WARNING",  # no access log line per request
            **(env or {}),
        }
        self._logs = Path(tempfile.mkdtemp(prefix="bench-stack-"))
        self.processes: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Stack:
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        self._clean_up()

    def logs(self, lines: int = 20) -> str:
        return "\n".join(
            f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
            for log in sorted(self._logs.glob("*.log"))
        )

    def _start(self) -> None:
        port = self.url.rsplit(":", 1)[1]
        self._spawn("api", [INFERENCE, "api", "--port", port], {})
        beats = [self._logs / f"worker-{n}.beat" for n in range(self._workers)]
        for n, beat in enumerate(beats):
            self._spawn(
                f"worker-{n}",
                self._worker_command,
                {"INFERENCE_WORKER__HEARTBEAT_FILE": str(beat), "INFERENCE_WORKER__METRICS_PORT": "0"},
            )

        def alive() -> bool:
            return all(p.poll() is None for p in self.processes)

        if not wait_until_ready(self.url, START_TIMEOUT, alive=alive):
            raise RuntimeError(f"the API did not become ready\n{self.logs()}")
        deadline = time.monotonic() + START_TIMEOUT
        while not all(beat.exists() for beat in beats):  # a worker beats once its model is loaded
            if time.monotonic() > deadline or not alive():
                raise RuntimeError(f"the workers did not start\n{self.logs()}")
            time.sleep(0.2)

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        log = (self._logs / f"{name}.log").open("ab")
        self.processes.append(
            subprocess.Popen(argv, cwd=ROOT, env=self._env | env, stdout=log, stderr=subprocess.STDOUT)
        )

    def _clean_up(self) -> None:
        try:
            connection = pika.BlockingConnection(pika.URLParameters(self.rabbitmq_url))
            channel = connection.channel()
            for name in (self.queue_name, f"{self.queue_name}.dead"):
                channel.queue_delete(name)
            connection.close()
        except pika.exceptions.AMQPError as exc:
            print(f"could not delete the benchmark's queues: {exc!r}", file=sys.stderr)
        client = redis.Redis.from_url(self.redis_url)
        try:
            keys = list(client.scan_iter(match=f"{self.key_prefix}*", count=10_000))
            for offset in range(0, len(keys), 1000):
                client.delete(*keys[offset : offset + 1000])
        finally:
            client.close()
