"""Live workers in Redis: one JSON key per worker whose time-to-live each heartbeat renews, and
a set of their ids, so that listing reads a few keys instead of scanning the key space."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.exceptions import WatchError

from adapters.redis.connections import RedisPerLoop, reaching_redis
from inference.ports import WorkerRegistry
from inference.worker_info import WorkerInfo


class RedisWorkerRegistry(WorkerRegistry):
    """Worker `id` lives under `{key_prefix}worker:{id}` for `ttl` seconds from its latest
    heartbeat; `{key_prefix}workers` is the set of ids, pruned of expired ones as `live` reads.

    Expiry is the server's (a key's time-to-live), so hosts with skewed clocks agree on who is
    alive. Every command waits at most `timeout` seconds; failures raise StoreUnavailable.
    """

    def __init__(self, url: str, ttl: float, key_prefix: str, timeout: float) -> None:
        self._ttl_ms = max(1, round(ttl * 1000))
        self._prefix = key_prefix
        self._index = f"{key_prefix}workers"
        parts = urlsplit(url)
        self._where = f"Redis at {parts.hostname}:{parts.port or 6379}"
        self._clients = RedisPerLoop(
            lambda: Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout),
            pattern=f"{key_prefix}worker-events:*",  # unused: the registry never long-polls
            timeout=timeout,
            where=self._where,
        )

    async def heartbeat(self, worker: WorkerInfo) -> None:
        document = _encode(replace(worker, seen_at=datetime.now(UTC)))
        async with reaching_redis(self._where, "heartbeat"):
            client = await self._clients.client()
            async with client.pipeline(transaction=True) as pipe:
                pipe.set(self._key(worker.id), document, px=self._ttl_ms)
                pipe.sadd(self._index, worker.id)
                await pipe.execute()

    async def deregister(self, worker_id: str) -> None:
        async with reaching_redis(self._where, "deregister"):
            client = await self._clients.client()
            async with client.pipeline(transaction=True) as pipe:
                pipe.delete(self._key(worker_id))
                pipe.srem(self._index, worker_id)
                await pipe.execute()

    async def live(self) -> list[WorkerInfo]:
        async with reaching_redis(self._where, "live"):
            client = await self._clients.client()
            async with client.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        return await self._read_and_prune(pipe)
                    except WatchError:
                        continue  # a worker beat meanwhile: read again rather than drop it

    async def _read_and_prune(self, pipe: Any) -> list[WorkerInfo]:
        await pipe.watch(self._index)
        ids = sorted(member.decode() for member in await pipe.smembers(self._index))
        if not ids:
            await pipe.unwatch()
            return []
        keys = [self._key(id) for id in ids]
        # Watching the keys too: a worker whose key expired and that beats again before the
        # prune must not lose its place in the set (SADD of a present member changes nothing).
        await pipe.watch(*keys)
        documents = await pipe.mget(keys)
        expired = [id for id, document in zip(ids, documents, strict=True) if document is None]
        if expired:
            pipe.multi()
            pipe.srem(self._index, *expired)
            await pipe.execute()
        else:
            await pipe.unwatch()
        return [_decode(document) for document in documents if document is not None]

    async def aclose(self) -> None:
        await self._clients.aclose()

    def _key(self, worker_id: str) -> str:
        return f"{self._prefix}worker:{worker_id}"


def _encode(worker: WorkerInfo) -> str:
    document: dict[str, Any] = {
        "v": 1,
        **{name: getattr(worker, name) for name in ("id", "host", "pid", "model", "model_version")},
        "backend": worker.backend,
        "batch_size": worker.batch_size,
        "started_at": worker.started_at.isoformat(),
        "last_batch_at": None if worker.last_batch_at is None else worker.last_batch_at.isoformat(),
        "seen_at": None if worker.seen_at is None else worker.seen_at.isoformat(),
    }
    return json.dumps(document, separators=(",", ":"))


def _decode(data: bytes | str) -> WorkerInfo:
    document = json.loads(data)

    def moment(name: str) -> datetime | None:
        value = document[name]
        return None if value is None else datetime.fromisoformat(value)

    return WorkerInfo(
        id=document["id"],
        host=document["host"],
        pid=document["pid"],
        model=document["model"],
        model_version=document["model_version"],
        backend=document["backend"],
        batch_size=document["batch_size"],
        started_at=datetime.fromisoformat(document["started_at"]),
        last_batch_at=moment("last_batch_at"),
        seen_at=moment("seen_at"),
    )
