"""The result store on Redis, over redis-py's asyncio client: one JSON key per request, and the
webhook outbox its transitions write to."""

from adapters.redis.idempotency_keys import RedisIdempotencyKeys
from adapters.redis.result_store import RedisResultStore
from adapters.redis.webhook_outbox import RedisWebhookOutbox

__all__ = ["RedisIdempotencyKeys", "RedisResultStore", "RedisWebhookOutbox"]
