"""The result store on Redis, over redis-py's asyncio client: one JSON key per request."""

from adapters.redis.idempotency_keys import RedisIdempotencyKeys
from adapters.redis.result_store import RedisResultStore

__all__ = ["RedisIdempotencyKeys", "RedisResultStore"]
