"""How each connection, the decoder and the classifier start and stop: the container's Resources.

The model backends are imported only when a classifier is built, by a worker: an API process
never builds one, and importing torch with timm costs seconds and hundreds of megabytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from adapters.model import ModelManifest
from adapters.rabbitmq import RabbitMQConsumer, RabbitMQPublisher
from adapters.redis import RedisResultStore, RedisWorkerRegistry
from inference.errors import InvalidImage
from inference.ports import Classifier

if TYPE_CHECKING:
    from adapters.images import BatchDecoder, DecodeLimits
    from adapters.model import Quantization

# How long a starting process waits for the broker before serving anyway (it keeps trying in
# the background; readiness says "unavailable" meanwhile).
CONNECT_WAIT_SECONDS = 5.0


class _Connection(Protocol):
    def start(self, wait: float) -> None: ...
    def shutdown(self) -> None: ...


Client = TypeVar("Client", bound=_Connection)


def connected(client: Client) -> Iterator[Client]:
    """A broker client, connected (or connecting) for as long as the container lives."""
    client.start(wait=CONNECT_WAIT_SECONDS)
    try:
        yield client
    finally:
        client.shutdown()  # the broker requeues whatever this process did not acknowledge


async def closing_publisher(publisher: RabbitMQPublisher) -> AsyncIterator[None]:
    """The API's publishing connection, closed on the event loop it runs on (pika's asyncio
    connection writes its close and reads the broker's close-ok there), before `connected`
    stops the rest from the container's synchronous shutdown."""
    try:
        yield None
    finally:
        await publisher.aclose()


async def closing_consumer(consumer: RabbitMQConsumer) -> AsyncIterator[None]:
    """A worker's deliveries' connection, closed on the event loop it runs on, as the
    publisher's (the broker requeues what it delivered and nobody settled)."""
    try:
        yield None
    finally:
        await consumer.aclose()


async def closing_connections(store: RedisResultStore, registry: RedisWorkerRegistry) -> AsyncIterator[None]:
    """Redis connections (the store's, the worker registry's), closed when the container shuts
    down (they are opened on use)."""
    try:
        yield None
    finally:
        await store.aclose()
        await registry.aclose()


def decode_limits(max_pixels: int, max_side: int, max_jpeg_scans: int) -> DecodeLimits:
    """What a worker's decoder refuses, as the API does (built only in a worker: numpy)."""
    from adapters.images import DecodeLimits

    return DecodeLimits(max_pixels=max_pixels, max_side=max_side, max_jpeg_scans=max_jpeg_scans)


def make_decoder(manifest: ModelManifest, limits: DecodeLimits, threads: int) -> BatchDecoder:
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
    return BatchDecoder(spec, limits=limits, threads=threads)


def decoder(manifest: ModelManifest, limits: DecodeLimits, threads: int) -> Iterator[BatchDecoder]:
    with make_decoder(manifest, limits, threads) as decoder:
        yield decoder


def torch_classifier(options: dict[str, Any], compile: bool) -> Iterator[Classifier]:
    from adapters.model import TimmClassifier

    yield TimmClassifier(**options, compile=compile)


def onnxruntime_classifier(options: dict[str, Any], cache_dir: Path) -> Iterator[Classifier]:
    from adapters.model import OnnxRuntimeClassifier

    yield OnnxRuntimeClassifier(**options, cache_dir=cache_dir)


def openvino_classifier(
    options: dict[str, Any], cache_dir: Path, int8_model: Path | None
) -> Iterator[Classifier]:
    from adapters.model import OpenVINOClassifier

    yield OpenVINOClassifier(**options, cache_dir=cache_dir, int8_model=int8_model)


def exported_onnx(manifest: ModelManifest, cache_dir: Path) -> Path:
    from adapters.model import exported_onnx

    return exported_onnx(manifest, cache_dir)


def int8_quantization(
    manifest: ModelManifest,
    limits: DecodeLimits,
    threads: int,
    cache_dir: Path,
    calibration: list[tuple[str, bytes]],
    held_out: list[bytes] | None,
    threshold: float,
    samples: int,
) -> Quantization:
    """`inference quantize`: images preprocessed as a worker's decoder does; without a held-out set,
    the calibration images' crops and mirror images are held out (images NNCF never saw as such)."""
    from adapters.images import crops_and_mirrors
    from adapters.model import quantize_images

    if held_out is None:
        held_out = []
        for _, data in calibration:
            try:
                held_out += crops_and_mirrors(data)
            except InvalidImage:  # the decoder reports it among the calibration images
                continue
    with make_decoder(manifest, limits, threads) as decoder:
        return quantize_images(
            manifest, decoder, cache_dir, calibration, held_out, threshold=threshold, samples=samples
        )
