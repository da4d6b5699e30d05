"""The harness the end-to-end tests and the benchmarks stand on: its ports cannot be taken by an
outgoing connection, and a worker that dies while starting fails the start at once, not after
the start's three-minute timeout."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest

from tests.harness import _ephemeral_ports, free_port
from tests.harness.cluster import START_TIMEOUT, Cluster
from tests.servers import RABBITMQ_URL, REDIS_URL, require_server


def test_free_ports_lie_below_the_range_the_kernel_hands_to_outgoing_connections() -> None:
    low, _ = _ephemeral_ports()
    ports = {free_port() for _ in range(50)}
    assert all(1024 <= port < low for port in ports)
    assert len(ports) > 40  # spread, not one port again and again
    with socket.socket() as server:  # and free: a server can take one
        server.bind(("127.0.0.1", ports.pop()))


@pytest.mark.slow
@pytest.mark.server
def test_a_worker_that_exits_while_starting_fails_the_start_at_once(tmp_path: Path) -> None:
    require_server("RabbitMQ", RABBITMQ_URL)
    require_server("Redis", REDIS_URL)
    dies = (sys.executable, "-c", "print('no model for you'); raise SystemExit(3)")
    cluster = Cluster(RABBITMQ_URL, REDIS_URL, tmp_path, worker_command=dies, tag="test.harness")
    try:
        cluster.start_api()
        cluster.start_worker()
        started = time.monotonic()
        expected = "worker-0 exited with 3 before its model was loaded"
        with pytest.raises(RuntimeError, match=expected) as failed:
            cluster.wait_until_ready()
        assert time.monotonic() - started < START_TIMEOUT / 3
        assert "no model for you" in str(failed.value)  # its log, to tell why
    finally:
        cluster.stop()
        cluster.clean_up()
