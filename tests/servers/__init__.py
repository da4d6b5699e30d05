"""Real servers for the tests: reaching the shared ones, and starting private ones to break.

The shared RabbitMQ and Redis (the README's defaults, or INFERENCE_TEST_RABBITMQ_URL and
INFERENCE_TEST_REDIS_URL) serve the contract tests and are never stopped. Tests that kill, pause
or restart a server start their own copy on a spare port (`tests.servers.redis`,
`tests.servers.rabbitmq`).
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

RABBITMQ_URL = os.environ.get("INFERENCE_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("INFERENCE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_server(name: str, url: str) -> None:
    """Skip the test when nothing listens at `url`, with the reason; in CI, fail instead."""
    parts = urlsplit(url)
    default_port = {"amqp": 5672, "redis": 6379}.get(parts.scheme, 0)
    address = (parts.hostname or "127.0.0.1", parts.port or default_port)
    try:
        with socket.create_connection(address, timeout=2.0):
            return
    except OSError as exc:
        reason = f"{name} does not answer at {address[0]}:{address[1]} ({exc})"
    if in_ci():
        pytest.fail(f"{reason}; CI must run every test against the real servers")
    pytest.skip(f"{reason}; start it (see the README) to run these tests")
