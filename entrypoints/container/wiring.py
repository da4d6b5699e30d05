"""The container: which adapter plays each port, and which use case gets which, in each mode.

`config.mode` selects the adapters: "embedded" runs on the in-memory ones, "distributed" on
RabbitMQ and Redis. The model's providers are in `model` and the queue's in `queue` (both
inherited); how connections start and stop is in `resources`, and the process-facing functions in
`lifecycle`.
"""

from __future__ import annotations

import operator

from dependency_injector import providers

from adapters.images import PillowImageInspector
from adapters.memory import MemoryIdempotencyKeys, MemoryResultStore, MemoryWorkerRegistry
from adapters.redis import RedisIdempotencyKeys, RedisResultStore, RedisWebhookOutbox, RedisWorkerRegistry
from entrypoints.container import metering, resources, webhooks
from entrypoints.container.model import ModelProviders
from entrypoints.container.queue import QueueProviders
from entrypoints.views import record_json
from inference.media import ImageLimits
from inference.use_cases.api import CancelRequest, GetResult, SubmitRequest, WatchRequest
from inference.use_cases.dead_letter_admin import ListDeadLetters, PurgeDeadLetters, RequeueDeadLetters
from inference.use_cases.dead_letters import SettleDeadLetters
from inference.use_cases.idempotency import SubmitOnce
from inference.use_cases.webhooks import DeliverWebhooks
from inference.use_cases.worker import ProcessBatch


class Container(QueueProviders):
    # One configuration for the whole tree: the model's and the queue's providers read the same one.
    config = ModelProviders.config

    store = providers.Selector(
        config.mode,
        embedded=providers.Singleton(
            MemoryResultStore, ttl=config.store.ttl_seconds, max_records=config.store.max_records
        ),
        distributed=providers.Singleton(
            RedisResultStore,
            url=config.redis_url,
            ttl=config.store.ttl_seconds,
            key_prefix=config.store.key_prefix,
            timeout=config.store.timeout_seconds,
        ),
    )
    # Keys last as long as the records they point at; they share the store's connections.
    idempotency_keys = providers.Selector(
        config.mode,
        embedded=providers.Singleton(
            MemoryIdempotencyKeys, ttl=config.store.ttl_seconds, max_keys=config.store.max_records
        ),
        distributed=providers.Singleton(
            RedisIdempotencyKeys,
            store=store,
            ttl=config.store.ttl_seconds,
            key_prefix=config.store.key_prefix,
        ),
    )
    # Who is alive: each worker beats into it, the API lists and counts them. Beside the records
    # in Redis, under the same prefix.
    worker_registry = providers.Selector(
        config.mode,
        embedded=providers.Singleton(MemoryWorkerRegistry, ttl=config.worker.heartbeat_ttl_seconds),
        distributed=providers.Singleton(
            RedisWorkerRegistry,
            url=config.redis_url,
            ttl=config.worker.heartbeat_ttl_seconds,
            key_prefix=config.store.key_prefix,
            timeout=config.store.timeout_seconds,
        ),
    )
    # Redis clients close on the event loop, so their lifecycle is an async Resource of its own:
    # the store itself stays a plain provider, which the use cases' factories can take as it is.
    store_connections = providers.Selector(
        config.mode,
        embedded=providers.Object(None),
        distributed=providers.Resource(resources.closing_connections, store, worker_registry),
    )

    # None when metrics are off. A worker's ports are wrapped to fill it; the API's are not (it
    # counts its submissions itself), and the bare `consumer` and `store` stay what tests inspect.
    metrics = providers.Singleton(
        metering.metrics,
        enabled=config.metrics.enabled,
        manifest=ModelProviders.manifest,
        backend=config.model.backend,
        precision=config.model.precision,
        memory_queue=providers.Selector(
            config.mode, embedded=QueueProviders._memory_queue, distributed=providers.Object(None)
        ),
    )
    worker_consumer = providers.Factory(metering.consumer, QueueProviders.consumer, metrics)
    _worker_store = providers.Factory(metering.store, store, metrics)

    # The same in both modes: it only reads the uploaded bytes.
    image_inspector = providers.Singleton(PillowImageInspector, max_jpeg_scans=config.api.max_jpeg_scans)
    image_limits = providers.Singleton(
        ImageLimits,
        max_pixels=config.api.max_pixels,
        max_frames=config.api.max_frames,
        max_side=config.api.max_side,
    )
    # None without a signing secret: the API refuses webhooks, a worker calls none.
    webhook_signing = providers.Singleton(
        webhooks.signing,
        secret=config.webhook.secret,
        allowed_networks=config.webhook.allowed_networks,
        connect_timeout=config.webhook.connect_timeout_seconds,
        read_timeout=config.webhook.read_timeout_seconds,
        max_response_bytes=config.webhook.max_response_bytes,
    )
    webhook_sender = providers.Callable(operator.attrgetter("sender"), webhook_signing)
    # The store's transitions write the outbox: the memory store is its own.
    webhook_outbox = providers.Selector(
        config.mode, embedded=store, distributed=providers.Singleton(RedisWebhookOutbox, store=store)
    )
    submit_request = providers.Factory(
        SubmitRequest,
        publisher=QueueProviders.publisher,
        store=store,
        inspector=image_inspector,
        limits=image_limits,
        default_deadline=config.api.default_deadline_seconds,
        max_deadline=config.api.max_deadline_seconds,
        webhooks=webhook_sender,
    )
    submit_once = providers.Factory(
        SubmitOnce,
        submit=submit_request,
        keys=idempotency_keys,
        lease=config.api.idempotency_lease_seconds,
        patience=config.api.idempotency_wait_seconds,
    )
    get_result = providers.Factory(GetResult, store=store)
    cancel_request = providers.Factory(CancelRequest, store=store)
    watch_request = providers.Factory(WatchRequest, store=store)
    deliver_webhooks = providers.Factory(
        DeliverWebhooks,
        outbox=webhook_outbox,
        sender=webhook_sender,
        render=providers.Object(record_json),
        lease=config.webhook.lease_seconds,
        max_age=config.webhook.max_age_seconds,
        first_delay=config.webhook.first_retry_seconds,
        max_delay=config.webhook.max_retry_seconds,
    )
    process_batch = providers.Factory(
        ProcessBatch,
        consumer=worker_consumer,
        store=_worker_store,
        classifier=providers.Callable(metering.classifier, ModelProviders.classifier, metrics),
        max_attempts=config.worker.max_attempts,
        store_patience=config.worker.store_patience_seconds,
    )
    settle_dead_letters = providers.Factory(
        SettleDeadLetters, dead_letters=worker_consumer, store=_worker_store
    )
    list_dead_letters = providers.Factory(
        ListDeadLetters, admin=QueueProviders.dead_letter_admin, store=store
    )
    requeue_dead_letters = providers.Factory(
        RequeueDeadLetters, admin=QueueProviders.dead_letter_admin, store=store
    )
    purge_dead_letters = providers.Factory(PurgeDeadLetters, admin=QueueProviders.dead_letter_admin)
