"""The composition root: the one place that chooses adapters. Nothing connects at import time."""

from __future__ import annotations

from dependency_injector import containers, providers

from adapters.memory import MemoryQueue, MemoryResultStore
from adapters.model_manifest import load_manifest
from adapters.timm_classifier import TimmClassifier
from entrypoints.settings import Settings
from inference.processing import ProcessBatch
from inference.services import GetResult, SubmitRequest


def _distributed_mode_missing() -> None:
    raise NotImplementedError(
        "the distributed mode (RabbitMQ + Redis) is not available yet; use INFERENCE_MODE=embedded"
    )


class Container(containers.DeclarativeContainer):
    config = providers.Configuration(strict=True)

    queue = providers.Selector(
        config.mode,
        embedded=providers.Singleton(
            MemoryQueue,
            max_length=config.queue.max_length,
            max_bytes=config.queue.max_bytes,
            # One more than the worker's own limit: the worker fails a request at its limit,
            # so the queue's dead-lettering is only a backstop.
            delivery_limit=providers.Callable(lambda n: n + 1, config.worker.max_attempts),
        ),
        distributed=providers.Callable(_distributed_mode_missing),
    )
    store = providers.Selector(
        config.mode,
        embedded=providers.Singleton(
            MemoryResultStore, ttl=config.store.ttl_seconds, max_records=config.store.max_records
        ),
        distributed=providers.Callable(_distributed_mode_missing),
    )
    manifest = providers.Singleton(load_manifest, config.model.manifest)
    # Thread-safe: the embedded worker loads it in a thread while a request may ask for it.
    classifier = providers.ThreadSafeSingleton(
        TimmClassifier, manifest=manifest, device=config.model.device, threads=config.model.threads
    )
    # The embedded API describes the model it serves; a distributed API only reads the manifest.
    model_info = providers.Selector(
        config.mode,
        embedded=providers.Callable(lambda classifier: classifier.model, classifier),
        distributed=providers.Callable(lambda manifest: manifest.info, manifest),
    )

    submit_request = providers.Factory(SubmitRequest, queue=queue, store=store)
    get_result = providers.Factory(GetResult, store=store)
    process_batch = providers.Factory(
        ProcessBatch,
        queue=queue,
        store=store,
        classifier=classifier,
        max_attempts=config.worker.max_attempts,
    )


def create_container(settings: Settings | None = None) -> Container:
    container = Container()
    container.config.from_dict((settings or Settings()).model_dump())
    return container
