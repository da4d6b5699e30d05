"""Idempotency keys in Redis: `SET NX PX` claims a key atomically for every API process.

A claim is a JSON value under `{key_prefix}idempotency:{sha256(key)}` (hashed: a client's key
may hold any visible character, and its length stays bounded). A pending claim's PX is its
lease, so Redis forgets a claim whose API process died; confirming or releasing checks that the
key still holds this request's claim under WATCH, so a claim that lapsed and was taken by
another process is never overwritten.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime

from redis.exceptions import WatchError

from adapters.redis.connections import reaching_redis
from adapters.redis.result_store import RedisResultStore
from inference.domain import RequestId
from inference.ports import IdempotencyKeys, KeyClaim


class RedisIdempotencyKeys(IdempotencyKeys):
    """Confirmed claims live `ttl` seconds. Runs on `store`'s connections (its pool per event
    loop, its timeouts), so a dead or frozen Redis gives StoreUnavailable as quickly."""

    def __init__(self, store: RedisResultStore, ttl: float, key_prefix: str) -> None:
        self._client = store
        self._ttl_ms = max(1, round(ttl * 1000))
        self._prefix = key_prefix
        self._where = store.where

    async def claim(self, key: str, claim: KeyClaim, lease: float) -> KeyClaim | None:
        name = self._name(key)
        pending = _encode(KeyClaim(claim.fingerprint, claim.request_id, claim.created_at, confirmed=False))
        async with reaching_redis(self._where, "claim"):
            client = await self._client.client()
            while True:
                if await client.set(name, pending, nx=True, px=max(1, round(lease * 1000))):
                    return None
                held = await client.get(name)
                if held is not None:  # else it lapsed between the two calls: claim again
                    return _decode(held)

    async def confirm(self, key: str, request_id: RequestId, created_at: datetime) -> bool:
        async with reaching_redis(self._where, "confirm"):
            return await self._rewrite(key, request_id, created_at)

    async def release(self, key: str, request_id: RequestId) -> None:
        async with reaching_redis(self._where, "release"):
            await self._rewrite(key, request_id, None)

    async def get(self, key: str) -> KeyClaim | None:
        async with reaching_redis(self._where, "get"):
            held = await (await self._client.client()).get(self._name(key))
        return None if held is None else _decode(held)

    async def _rewrite(self, key: str, request_id: RequestId, confirm_at: datetime | None) -> bool:
        """Confirm (at `confirm_at`; else delete) the key's pending claim if still `request_id`'s."""
        name = self._name(key)
        client = await self._client.client()
        async with client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(name)
                    raw = await pipe.get(name)
                    held = None if raw is None else _decode(raw)
                    if held is None or held.request_id != request_id or held.confirmed:
                        await pipe.unwatch()  # type: ignore[no-untyped-call]
                        return held is not None and held.request_id == request_id and held.confirmed
                    pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
                    if confirm_at is not None:
                        confirmed = KeyClaim(held.fingerprint, held.request_id, confirm_at, True)
                        pipe.set(name, _encode(confirmed), px=self._ttl_ms)
                    else:
                        pipe.delete(name)
                    await pipe.execute()
                    return confirm_at is not None
                except WatchError:
                    continue  # the claim changed under us (it lapsed, say): look again

    def _name(self, key: str) -> str:
        return f"{self._prefix}idempotency:{hashlib.sha256(key.encode()).hexdigest()}"


def _encode(claim: KeyClaim) -> str:
    return json.dumps(
        {
            "fingerprint": claim.fingerprint,
            "request_id": str(claim.request_id),
            "created_at": claim.created_at.isoformat(),
            "confirmed": claim.confirmed,
        }
    )


def _decode(raw: bytes | str) -> KeyClaim:
    document = json.loads(raw)
    return KeyClaim(
        fingerprint=str(document["fingerprint"]),
        request_id=RequestId(uuid.UUID(document["request_id"])),
        created_at=datetime.fromisoformat(document["created_at"]),
        confirmed=bool(document["confirmed"]),
    )
