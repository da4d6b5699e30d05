"""The composition root: the one place that chooses adapters. Nothing connects at import time.

`config.mode` selects the adapters: "embedded" runs on the in-memory ones, "distributed" on
RabbitMQ and Redis. Every connection, the decoder and the classifier are `Resource`s: entry
points call `start_adapters` before serving (it builds only the selected ones, so the embedded
mode never reaches for a broker) and `stop_adapters` after, which is the container's own
`shutdown_resources`: whatever was started is stopped, in dependency order.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dependency_injector import containers, providers

from adapters.images import PillowImageInspector
from adapters.memory import MemoryQueue, MemoryResultStore
from adapters.model import ModelManifest, load_manifest
from adapters.rabbitmq import RabbitMQQueue
from adapters.redis import RedisResultStore
from entrypoints.settings import Settings
from inference.media import ImageLimits
from inference.ports import Classifier
from inference.processing import ProcessBatch, SettleDeadLetters
from inference.services import GetResult, SubmitRequest

if TYPE_CHECKING:
    from adapters.images import BatchDecoder

# How long a starting process waits for the broker before serving anyway (it keeps trying in
# the background; readiness says "unavailable" meanwhile).
CONNECT_WAIT_SECONDS = 5.0


def _rabbitmq_queue(queue: RabbitMQQueue) -> Iterator[RabbitMQQueue]:
    """The queue, connected (or connecting) for as long as the container lives."""
    queue.start(wait=CONNECT_WAIT_SECONDS)
    try:
        yield queue
    finally:
        queue.shutdown()  # the broker requeues whatever this process did not acknowledge


async def _redis_store(store: RedisResultStore) -> AsyncIterator[RedisResultStore]:
    try:
        yield store
    finally:
        await store.aclose()


def make_decoder(manifest: ModelManifest, max_pixels: int, threads: int) -> BatchDecoder:
    """The model's preprocessing as its manifest states it, on a thread pool of its own."""
    # Imported here: decoding needs numpy, which an API process (and its image) does without.
    from adapters.images import BatchDecoder, Preprocessing

    spec = Preprocessing(
        input_size=manifest.input_size,
        resize_size=manifest.resize_size,
        interpolation=manifest.interpolation,
        mean=manifest.mean,
        std=manifest.std,
    )
    return BatchDecoder(spec, max_pixels=max_pixels, threads=threads)


def _decoder(manifest: ModelManifest, max_pixels: int, threads: int) -> Iterator[BatchDecoder]:
    with make_decoder(manifest, max_pixels, threads) as decoder:
        yield decoder


# The model backends are imported only when a classifier is built, by a worker: an API process
# never builds one, and importing torch with timm costs seconds and about 800 MB of memory.


def _torch_classifier(options: dict[str, Any], compile: bool) -> Iterator[Classifier]:
    from adapters.model import TimmClassifier

    yield TimmClassifier(**options, compile=compile)


def _onnxruntime_classifier(options: dict[str, Any], cache_dir: Path) -> Iterator[Classifier]:
    from adapters.model import OnnxRuntimeClassifier

    yield OnnxRuntimeClassifier(**options, cache_dir=cache_dir)


def _openvino_classifier(options: dict[str, Any], cache_dir: Path) -> Iterator[Classifier]:
    from adapters.model import OpenVINOClassifier

    yield OpenVINOClassifier(**options, cache_dir=cache_dir)


def _exported_onnx(manifest: ModelManifest, cache_dir: Path) -> Path:
    from adapters.model import exported_onnx

    return exported_onnx(manifest, cache_dir)


class Container(containers.DeclarativeContainer):
    config = providers.Configuration(strict=True)

    # One more than the worker's own limit: the worker fails a request at its limit, so the
    # queue's dead-lettering is only a backstop (for a worker that crashes on a request).
    _delivery_limit = providers.Callable(lambda n: n + 1, config.worker.max_attempts)
    queue = providers.Selector(
        config.mode,
        embedded=providers.Singleton(
            MemoryQueue,
            max_length=config.queue.max_length,
            max_bytes=config.queue.max_bytes,
            delivery_limit=_delivery_limit,
        ),
        distributed=providers.Resource(
            _rabbitmq_queue,
            providers.Factory(
                RabbitMQQueue,
                url=config.rabbitmq_url,
                name=config.queue.name,
                max_length=config.queue.max_length,
                max_bytes=config.queue.max_bytes,
                delivery_limit=_delivery_limit,
                prefetch=providers.Callable(
                    lambda size, batches: size * batches,
                    config.worker.max_batch_size,
                    config.worker.prefetch_batches,
                ),
                timeout=config.queue.timeout_seconds,
            ),
        ),
    )
    store = providers.Selector(
        config.mode,
        embedded=providers.Singleton(
            MemoryResultStore, ttl=config.store.ttl_seconds, max_records=config.store.max_records
        ),
        distributed=providers.Resource(
            _redis_store,
            providers.Factory(
                RedisResultStore,
                url=config.redis_url,
                ttl=config.store.ttl_seconds,
                key_prefix=config.store.key_prefix,
                timeout=config.store.timeout_seconds,
            ),
        ),
    )
    manifest = providers.Singleton(load_manifest, config.model.manifest)
    decoder = providers.Resource(
        _decoder, manifest, max_pixels=config.api.max_pixels, threads=config.model.decode_threads
    )
    # What every backend is given; each adds its own (compile for torch, the export cache for ONNX).
    _model_options = providers.Dict(
        manifest=manifest,
        decoder=decoder,
        device=config.model.device,
        threads=config.model.threads,
        precision=config.model.precision,
    )
    # Built by the worker only (in a thread: loading is seconds of CPU work).
    classifier = providers.Selector(
        config.model.backend,
        torch=providers.Resource(_torch_classifier, options=_model_options, compile=config.model.compile),
        onnxruntime=providers.Resource(
            _onnxruntime_classifier, options=_model_options, cache_dir=config.model.cache_dir
        ),
        openvino=providers.Resource(
            _openvino_classifier, options=_model_options, cache_dir=config.model.cache_dir
        ),
    )
    # `inference export-onnx`: what the ONNX backends load, exported ahead of time.
    onnx_export = providers.Callable(_exported_onnx, manifest=manifest, cache_dir=config.model.cache_dir)
    # The API describes the model from its manifest, in both modes: at once, while a worker
    # may still be loading (or exporting) the model itself.
    model_info = providers.Callable(lambda manifest: manifest.info, manifest)

    # The same in both modes: it only reads the uploaded bytes.
    image_inspector = providers.Singleton(PillowImageInspector)
    image_limits = providers.Singleton(
        ImageLimits, max_pixels=config.api.max_pixels, max_frames=config.api.max_frames
    )
    submit_request = providers.Factory(
        SubmitRequest, queue=queue, store=store, inspector=image_inspector, limits=image_limits
    )
    get_result = providers.Factory(GetResult, store=store)
    process_batch = providers.Factory(
        ProcessBatch,
        queue=queue,
        store=store,
        classifier=classifier,
        max_attempts=config.worker.max_attempts,
        store_patience=config.worker.store_patience_seconds,
    )
    settle_dead_letters = providers.Factory(SettleDeadLetters, queue=queue, store=store)


def create_container(settings: Settings | None = None) -> Container:
    container = Container()
    container.config.from_dict((settings or Settings()).model_dump())
    return container


async def start_adapters(container: Container) -> None:
    """Start the selected queue and store (connecting to their servers, if any)."""
    container.queue()
    store = container.store()
    if inspect.isawaitable(store):  # an async Resource (Redis) starts on the running loop
        await store
        # Started: hand it out as it is. Left in async mode, dependency-injector would answer with
        # a Future from now on, and so would every provider built on it (the use cases).
        container.store.disable_async_mode()
        container.store.providers["distributed"].disable_async_mode()


async def stop_adapters(container: Container) -> None:
    """Stop every resource this container started, the classifier and its decoder included."""
    stopping = container.shutdown_resources()
    if stopping is not None:
        await stopping
