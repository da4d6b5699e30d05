"""A private redis-server on a spare port, for tests that freeze, kill or restart the store.

The shared Redis (port 6379) must never be stopped, paused or flushed, so `private_redis()` starts
a second server beside it, with its working directory (and log) in a temporary directory. It runs
in the foreground as our child, in its own process group, and is always killed on exit.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.harness import free_port
from tests.servers import in_ci

START_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0


class PrivateRedisError(RuntimeError):
    """The private server did not start or stop; the message carries the tail of its log."""


class PrivateRedis:
    """One redis-server on `port`; `restart()` brings it back on the same port (and directory).

    Without persistence (the default) a restart starts empty; pass `"--appendonly", "yes"` as extra
    arguments to `private_redis` to keep the data across `stop()` and `restart()`.
    """

    def __init__(self, root: Path, executable: str, extra_args: tuple[str, ...] = ()) -> None:
        self.root = root
        self.executable = executable
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.extra_args = extra_args
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def log_file(self) -> Path:
        return self.root / "redis.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the server and return once it answers PING."""
        if self.running:
            raise PrivateRedisError(f"the private Redis on port {self.port} is already running")
        command = [
            self.executable,
            *("--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.root)),
            *("--save", "", "--appendonly", "no", "--daemonize", "no"),
            *("--logfile", str(self.log_file)),
            *self.extra_args,  # later arguments win, so these may override the defaults above
        ]
        self._process = subprocess.Popen(
            command,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in pytest does not reach it; we stop it ourselves
        )
        try:
            self._await_ping(time.monotonic() + timeout)
        except BaseException:
            self.kill()
            raise

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections still open at the kernel, nothing answers."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Shut the server down cleanly (SIGTERM, which writes the append-only file if enabled)."""
        process = self._process
        if process is None or process.poll() is not None:
            self._process = None
            return
        self.resume()  # a frozen server cannot handle SIGTERM
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise PrivateRedisError(f"Redis did not stop within {timeout:.0f} s; killed it") from None
        self._process = None

    def kill(self) -> None:
        """SIGKILL the server, frozen or not: no goodbye to its clients."""
        process = self._process
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        self._process = None

    def restart(self, timeout: float = START_TIMEOUT) -> None:
        """Stop it (if running) and start it again on the same port."""
        self.stop()
        self.start(timeout)

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_file.exists():
            return f"(no log at {self.log_file})"
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def _signal(self, signum: signal.Signals) -> None:
        if not self.running:
            raise PrivateRedisError(f"the private Redis on port {self.port} is not running")
        assert self._process is not None
        os.kill(self._process.pid, signum)

    def _await_ping(self, deadline: float) -> None:
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1.0, socket_connect_timeout=1.0)
        try:
            while True:
                if not self.running:
                    code = None if self._process is None else self._process.returncode
                    raise PrivateRedisError(f"Redis exited during startup ({code})\n{self.log_tail()}")
                try:
                    if client.ping():
                        return
                except (redis.RedisError, OSError) as exc:
                    if time.monotonic() > deadline:
                        raise PrivateRedisError(
                            f"Redis on port {self.port} does not answer PING: {exc!r}\n{self.log_tail()}"
                        ) from exc
                time.sleep(0.05)
        finally:
            client.close()


@contextlib.contextmanager
def private_redis(*extra_args: str, start: bool = True) -> Iterator[PrivateRedis]:
    """A running private Redis (unless `start=False`); always killed and deleted on exit.

    Skips the test when redis-server is not installed (fails instead in CI, like `require_server`).
    """
    executable = os.environ.get("INFERENCE_TEST_REDIS_SERVER") or shutil.which("redis-server")
    if executable is None:
        reason = "redis-server is not installed; put it on PATH or set INFERENCE_TEST_REDIS_SERVER"
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="inference-redis-"))
    try:
        server = PrivateRedis(root, executable, extra_args)
        try:
            if start:
                server.start()
            yield server
        finally:
            server.kill()
    finally:
        shutil.rmtree(root, ignore_errors=True)
