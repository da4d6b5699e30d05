"""Which RabbitMQ and Redis a benchmark runs on: the shared ones, or a private node of each.

The shared servers count every other user's work in their CPU time; a private node's CPU is the
benchmark's alone (RabbitMQ and redis-server must be installed; RabbitMQ takes seconds to boot).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from tests.servers import RABBITMQ_URL, REDIS_URL
from tests.servers.rabbitmq import private_rabbitmq
from tests.servers.redis import private_redis


@dataclass(frozen=True)
class Servers:
    rabbitmq_url: str
    redis_url: str
    # Text in each server process's command line, for bench.cpu.server_pids ("": the first found).
    rabbitmq_marker: str = ""
    redis_marker: str = ""


SHARED = Servers(RABBITMQ_URL, REDIS_URL)


@contextlib.contextmanager
def servers(private: bool) -> Iterator[Servers]:
    if not private:
        yield SHARED
        return
    with private_rabbitmq() as rabbitmq, private_redis() as redis:
        # A node's name is not on beam's command line; its directory is.
        yield Servers(rabbitmq.url, redis.url, str(rabbitmq.root), f":{redis.port}")
