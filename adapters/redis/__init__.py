"""The result store and the worker registry on Redis, over redis-py's asyncio client."""

from adapters.redis.idempotency_keys import RedisIdempotencyKeys
from adapters.redis.result_store import RedisResultStore
from adapters.redis.worker_registry import RedisWorkerRegistry

__all__ = ["RedisIdempotencyKeys", "RedisResultStore", "RedisWorkerRegistry"]
