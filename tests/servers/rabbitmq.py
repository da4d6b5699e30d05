"""A private RabbitMQ node on spare ports, for tests that stop, kill or restart the broker.

The shared node (`rabbit@localhost`, port 5672) must never be touched, so each `private_rabbitmq()`
starts a second node beside it: its own node name, AMQP and distribution ports, data and log
directories, config, Erlang cookie and (empty) plugin list, all under one temporary directory.

It runs the real start script from the RabbitMQ installation (`/usr/lib/rabbitmq/bin` on Debian),
not the `/usr/sbin/rabbitmq-server` wrapper: as root that wrapper re-runs itself as the `rabbitmq`
user through `su` (who could not write our root-owned temporary directories) and redirects the
output to the shared node's `/var/log/rabbitmq/startup_log`. Run directly, the node belongs to
whoever runs the tests, root or not. It registers with the machine's epmd like any other node.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pika
import pika.exceptions
import pytest

from tests.harness import free_port
from tests.servers import in_ci

# The installation's own scripts first: the PATH's rabbitmq-server may be a distribution wrapper
# (see the module docstring). INFERENCE_TEST_RABBITMQ_SBIN points at another installation.
_SBIN_CANDIDATES = ("/usr/lib/rabbitmq/bin", "/usr/local/lib/rabbitmq/bin", "/opt/rabbitmq/sbin")
UNAVAILABLE_EXIT = 69  # rabbitmqctl: the node is not (yet) reachable

# Startup is CPU-bound (Erlang boot, config schema, Mnesia, Ra): ~15 s on a busy 2-core machine.
START_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0

# Measured on RabbitMQ 3.10.8: a quorum queue SIGKILLed within about 0.5 s of its declaration comes
# back after the restart as a leaderless Raft member (term 0, empty log) that never elects itself, so
# every operation on it times out and its messages are gone. One second old was always enough; kill
# tests wait this long after declaring before they count on a queue surviving.
QUORUM_QUEUE_SETTLE_SECONDS = 2.0
# Erlang's schedulers spin for a while when they run out of work before they sleep: CPU that
# a broker beside the workers takes from the model. compose.yaml turns it off; so does this node.
NO_BUSY_WAIT = "+sbwt none +sbwtdcpu none +sbwtdio none"


class PrivateServerError(RuntimeError):
    """A private server did not start or stop; the message carries the tail of its log."""


def rabbitmq_sbin() -> Path | None:
    """The directory holding `rabbitmq-server` and `rabbitmqctl`, or None when RabbitMQ is absent."""
    override = os.environ.get("INFERENCE_TEST_RABBITMQ_SBIN")
    candidates = [override] if override else list(_SBIN_CANDIDATES)
    found = shutil.which("rabbitmq-server")
    if found and not override:
        candidates.append(str(Path(found).parent))
    for candidate in candidates:
        sbin = Path(candidate)
        if (sbin / "rabbitmq-server").exists() and (sbin / "rabbitmqctl").exists():
            return sbin
    return None


class PrivateRabbitMQ:
    """One RabbitMQ node whose data directory outlives `stop()`/`kill()`, so `start()` recovers it."""

    def __init__(self, root: Path, sbin: Path) -> None:
        self.root = root
        self.sbin = sbin
        self.port = free_port()
        self.dist_port = free_port()
        self.node = f"inference-test-{secrets.token_hex(4)}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        self._process: subprocess.Popen[bytes] | None = None
        self._env = self._prepare()

    @property
    def log_file(self) -> Path:
        return self.root / "log" / f"{self.node}.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Boot the node (again, on the same data) and return once it accepts AMQP connections."""
        if self.running:
            raise PrivateServerError(f"{self.node} is already running")
        (self.root / "rabbitmq.pid").unlink(missing_ok=True)
        with (self.root / "stdout.log").open("ab") as output:
            self._process = subprocess.Popen(
                [str(self.sbin / "rabbitmq-server")],
                cwd=self.root,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                # Its own process group: Ctrl-C in pytest does not reach it, and kill() can take
                # the start script, beam.smp and its port programs down together.
                start_new_session=True,
            )
        try:
            self._await_startup(time.monotonic() + timeout)
        except BaseException:
            self.kill()
            raise

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Shut the node down cleanly (queues and messages flushed to disk) and wait for its exit."""
        process = self._process
        if process is None or process.poll() is not None:
            self._process = None
            return
        # The start script traps SIGTERM and stops the node gracefully, as `rabbitmqctl stop` would,
        # without paying for another CLI boot.
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise PrivateServerError(
                f"{self.node} did not stop within {timeout:.0f} s; killed it\n{self.log_tail()}"
            ) from None
        self._process = None

    def kill(self) -> None:
        """SIGKILL the node: no flush, no goodbye to clients; what was confirmed must survive it."""
        process = self._process
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        self._process = None

    def restart(self, timeout: float = START_TIMEOUT) -> None:
        self.stop()
        self.start(timeout)

    def rabbitmqctl(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run `rabbitmqctl -n <this node> ARGS` with this node's cookie; the caller checks the result."""
        return subprocess.run(
            [str(self.sbin / "rabbitmqctl"), "-n", self.node, *args],
            cwd=self.root,
            env=self._env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def log_tail(self, lines: int = 40) -> str:
        parts = []
        for path in (self.root / "stdout.log", self.log_file):
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path} (last {len(tail)} lines) ---\n" + "\n".join(tail))
        return "\n".join(parts) or f"(no log under {self.root})"

    def _prepare(self) -> dict[str, str]:
        for name in ("home", "log", "mnesia"):
            (self.root / name).mkdir()
        # A cookie of its own: the CLI finds it through HOME, and the shared node's is left alone.
        cookie = self.root / "home" / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16))
        cookie.chmod(0o400)
        config = self.root / "rabbitmq.conf"
        config.write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\n"
            # guest may log in from loopback only (the default, stated because the URL relies on it).
            "loopback_users.guest = true\n"
            "log.file.level = info\n"
            "log.console = false\n"
        )
        plugins = self.root / "enabled_plugins"
        plugins.write_text("[].\n")
        # Empty on purpose: the system's rabbitmq-env.conf names the shared node (NODENAME=rabbit@...).
        env_file = self.root / "rabbitmq-env.conf"
        env_file.write_text("")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update(
            HOME=str(self.root / "home"),
            LANG="C.UTF-8",  # the Elixir CLI complains under a non-UTF-8 locale
            LC_ALL="C.UTF-8",
            ERL_EPMD_ADDRESS="127.0.0.1",
            RABBITMQ_CONF_ENV_FILE=str(env_file),
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_CONFIG_FILE=str(config),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(self.root / "advanced.config"),  # absent: none
            RABBITMQ_ENABLED_PLUGINS_FILE=str(plugins),
            RABBITMQ_MNESIA_BASE=str(self.root / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.root / "log"),
            RABBITMQ_PID_FILE=str(self.root / "rabbitmq.pid"),
            # Keep Erlang distribution on loopback, like the shared node; no busy-waiting
            # schedulers, as compose.yaml runs the broker beside the workers (see there).
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1} " + NO_BUSY_WAIT,
        )
        return env

    def _await_startup(self, deadline: float) -> None:
        # `await_startup` gives up at once while the node is not yet registered with epmd, so retry
        # it until the node answers; then prove the AMQP listener with a real login.
        while True:
            self._check_alive()
            remaining = max(1, int(deadline - time.monotonic()))
            result = self.rabbitmqctl("await_startup", "--timeout", str(remaining), timeout=remaining + 30)
            if result.returncode == 0:
                break
            if result.returncode != UNAVAILABLE_EXIT or time.monotonic() > deadline:
                self._fail(f"`rabbitmqctl await_startup` failed ({result.returncode}): {result.stderr}")
            time.sleep(0.5)
        while True:
            self._check_alive()
            try:
                self._amqp_ping()
                return
            except (pika.exceptions.AMQPError, OSError) as exc:
                if time.monotonic() > deadline:
                    self._fail(f"the node is up but AMQP on port {self.port} fails: {exc!r}")
            time.sleep(0.2)

    def _amqp_ping(self) -> None:
        parameters = pika.URLParameters(self.url)
        parameters.socket_timeout = 5
        parameters.connection_attempts = 1
        pika.BlockingConnection(parameters).close()

    def _check_alive(self) -> None:
        if self._process is None or self._process.poll() is not None:
            code = None if self._process is None else self._process.returncode
            self._fail(f"the node exited during startup (exit status {code})")

    def _fail(self, reason: str) -> None:
        raise PrivateServerError(f"private RabbitMQ {self.node} did not start: {reason}\n{self.log_tail()}")


def port_refuses_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2.0):
            return False
    except ConnectionRefusedError:
        return True


@contextlib.contextmanager
def private_rabbitmq(start: bool = True) -> Iterator[PrivateRabbitMQ]:
    """A running private node (unless `start=False`); always shut down and deleted on exit.

    Skips the test when RabbitMQ is not installed (fails instead in CI, like `require_server`).
    """
    sbin = rabbitmq_sbin()
    if sbin is None:
        reason = "RabbitMQ is not installed (no rabbitmq-server); set INFERENCE_TEST_RABBITMQ_SBIN"
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="inference-rabbitmq-"))
    try:
        server = PrivateRabbitMQ(root, sbin)
        try:
            if start:
                server.start()
            yield server
        finally:
            try:
                server.stop()
            finally:
                server.kill()
    finally:
        shutil.rmtree(root, ignore_errors=True)
