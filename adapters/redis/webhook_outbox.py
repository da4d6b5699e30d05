"""The webhook outbox in Redis: a sorted set of request ids scored by when their webhook is due.

Entries are added by `RedisResultStore.transition` in the script call that stores the terminal
record (`compare_and_set`);
this class claims and settles them.
"""

from __future__ import annotations

from datetime import datetime

from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from adapters.redis.codec import decode_record, encode_record
from adapters.redis.result_store import RedisResultStore
from inference.domain import RequestId, RequestRecord
from inference.ports import WebhookOutbox
from inference.webhook_delivery import Webhook, WebhookStatus

# Atomic, so two claimers never take the same entry: read what is due, push it `lease` ahead.
_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, id in ipairs(due) do redis.call('ZADD', KEYS[1], 'XX', ARGV[2], id) end
return due
"""


class RedisWebhookOutbox(WebhookOutbox):
    """Shares `store`'s connections, key prefix and timeouts (see RedisResultStore)."""

    def __init__(self, store: RedisResultStore) -> None:
        self._store = store

    async def claim(self, now: datetime, lease: float, max_count: int) -> list[RequestRecord]:
        async with self._store.reaching_redis("claim webhooks"):
            client = await self._store.client()
            moment = now.timestamp()
            due = await client.eval(
                _CLAIM, 1, self._store.outbox_key, repr(moment), repr(moment + lease), max_count
            )
            ids = [RequestId.parse(item.decode() if isinstance(item, bytes) else item) for item in due]
            if not ids:
                return []
            stored = await client.mget([self._store.key(request_id) for request_id in ids])
            expired = [str(request_id) for request_id, data in zip(ids, stored, strict=True) if data is None]
            if expired:
                await client.zrem(self._store.outbox_key, *expired)
        return [decode_record(data) for data in stored if data is not None]

    async def settle(self, request_id: RequestId, webhook: Webhook, due: datetime | None) -> None:
        key, member = self._store.key(request_id), str(request_id)
        async with self._store.reaching_redis("settle a webhook"):
            client = await self._store.client()
            async with client.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        await pipe.watch(key)
                        data = await pipe.get(key)
                        pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
                        self._queue_settle(pipe, key, member, data, webhook, due)
                        await pipe.execute()
                        return
                    except WatchError:
                        continue  # the record changed under us: read it again

    def _queue_settle(
        self,
        pipe: Pipeline,
        key: str,
        member: str,
        data: bytes | str | None,
        webhook: Webhook,
        due: datetime | None,
    ) -> None:
        record = None if data is None else decode_record(data)
        current = None if record is None else record.webhook
        if record is None or current is None or current.status is not WebhookStatus.PENDING:
            pipe.zrem(self._store.outbox_key, member)  # expired, or settled for good by another claimer
            return
        # KEEPTTL: a delivery's state is no write of the record's, and does not extend its life.
        pipe.set(key, encode_record(record.with_webhook(webhook)), keepttl=True, xx=True)
        if due is None:
            pipe.zrem(self._store.outbox_key, member)
        else:
            pipe.zadd(self._store.outbox_key, {member: due.timestamp()})
