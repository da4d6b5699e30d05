"""The result store, the worker registry and the webhook outbox (which the store's transitions
write to) on Redis, over redis-py's asyncio client."""

from adapters.redis.idempotency_keys import RedisIdempotencyKeys
from adapters.redis.result_store import RedisResultStore
from adapters.redis.webhook_outbox import RedisWebhookOutbox
from adapters.redis.worker_registry import RedisWorkerRegistry

__all__ = ["RedisIdempotencyKeys", "RedisResultStore", "RedisWebhookOutbox", "RedisWorkerRegistry"]
