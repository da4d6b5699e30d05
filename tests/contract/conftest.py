"""Fixtures the Redis-backed contract modules share."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import pytest
import redis

from tests.servers import REDIS_URL, require_server


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of this test's own on the shared Redis; its keys are deleted afterwards."""
    require_server("Redis", REDIS_URL)
    prefix = f"test:{uuid4().hex}:"
    yield prefix
    with redis.Redis.from_url(REDIS_URL, socket_timeout=5.0) as client:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
