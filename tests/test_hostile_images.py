"""Hostile and odd images through the HTTP API.

Bombs and absurd animations are refused at POST (422) from their headers alone, before anything
is queued. Odd but valid images are classified by the real demo model. Images whose damage only a
full decode can find are accepted, then fail alone with `invalid_image`, their batch-mates unharmed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import pytest
from dependency_injector import providers
from fastapi.testclient import TestClient
from PIL import Image

from adapters.memory import MemoryQueue
from adapters.model.manifest import load_manifest
from adapters.model.timm_classifier import TimmClassifier
from demo.shapes import draw
from entrypoints.container import Container, create_container
from entrypoints.embedded import create_embedded_app
from entrypoints.settings import DEMO_MANIFEST, ApiSettings, Settings
from inference.domain import Failure, InferenceRequest, ModelInfo, Prediction
from inference.ports import Classifier
from tests.adapters.checkpoints import decoder_for, runtime
from tests.images import (
    PNG_SIGNATURE,
    animated,
    apng_declaring,
    encode,
    gif_claiming_screen,
    gif_with_frames,
    odd_images,
    png_header_claiming,
    tiff_with_pages,
    truncated_jpeg,
)
from tests.stubs import png_with_broken_data

SUBMIT = "/api/inference/requests"


def _submit(client: TestClient, image: bytes) -> tuple[int, dict[str, object]]:
    response = client.post(SUBMIT, files={"image": ("upload", image)})
    body: dict[str, object] = response.json()
    return response.status_code, body


def _outcome(client: TestClient, request_id: object) -> dict[str, object]:
    body: dict[str, object] = client.get(f"{SUBMIT}/{request_id}/results", params={"wait": 20}).json()
    return body


def _assert_refused(status: int, body: dict[str, object], code: str) -> None:
    assert (status, body["code"]) == (422, code), body
    assert isinstance(body["detail"], str) and body["detail"]


# --- Refused at POST, from the header alone -------------------------------------------------------


@pytest.mark.parametrize(
    "image",
    [
        png_header_claiming(50_000, 50_000),
        png_header_claiming(8000, 6000),
        gif_claiming_screen(65_535, 65_535),
    ],
    ids=["png-50000x50000", "png-8000x6000-over-the-40-MP-limit", "gif-screen-65535x65535"],
)
def test_a_decompression_bomb_gets_422_image_too_large(client: TestClient, image: bytes) -> None:
    _assert_refused(*_submit(client, image), "image_too_large")


@pytest.mark.parametrize(
    "image",
    [gif_with_frames(1001), apng_declaring(5000), tiff_with_pages(1001)],
    ids=["gif-1001-frames", "apng-declaring-5000", "tiff-1001-pages"],
)
def test_an_animation_of_more_than_1000_frames_gets_422_too_many_frames(
    client: TestClient, image: bytes
) -> None:
    _assert_refused(*_submit(client, image), "too_many_frames")


def test_the_configured_limits_refuse_before_anything_is_queued() -> None:
    container = create_container(Settings(mode="embedded", api=ApiSettings(max_pixels=1000, max_frames=2)))
    client = TestClient(create_embedded_app(container))  # no worker: whatever is queued stays
    small = encode(Image.new("RGB", (40, 25)), "PNG")

    _assert_refused(*_submit(client, encode(Image.new("RGB", (40, 26)), "PNG")), "image_too_large")
    _assert_refused(*_submit(client, animated("WEBP", 3)), "too_many_frames")
    assert isinstance(queue := container.consumer(), MemoryQueue) and queue.depth == 0
    assert _submit(client, small)[0] == 202
    assert _submit(client, animated("WEBP", 2))[0] == 202


@pytest.mark.parametrize(
    "image",
    [
        PNG_SIGNATURE + b"\0" * 64,
        b"\xff\xd8\xff" + b"\0" * 64,
        b"GIF89a\x01",
        PNG_SIGNATURE + encode(Image.new("RGB", (4, 4)), "GIF"),
    ],
    ids=["png", "jpeg", "gif", "gif-behind-a-png-signature"],
)
def test_garbage_behind_an_image_signature_gets_422_invalid_image(client: TestClient, image: bytes) -> None:
    _assert_refused(*_submit(client, image), "invalid_image")


def test_a_file_of_countless_tiny_segments_gets_422_invalid_image(client: TestClient) -> None:
    jpeg = encode(Image.new("RGB", (8, 8)), "JPEG")
    padded = jpeg[:2] + b"\xff" * 200_000 + jpeg[2:]  # 200,000 padding bytes, a read each

    status, body = _submit(client, padded)

    _assert_refused(status, body, "invalid_image")
    assert "too intricate" in str(body["detail"])


# --- Accepted, then classified by the real demo model ---------------------------------------------


class RecordingClassifier(Classifier):
    """The real classifier, noting the size of every batch it is given."""

    def __init__(self, inner: Classifier) -> None:
        self._inner = inner
        self.batch_sizes: list[int] = []

    @property
    def model(self) -> ModelInfo:
        return self._inner.model

    def classify(self, batch: Sequence[InferenceRequest]) -> list[Prediction | Failure]:
        self.batch_sizes.append(len(batch))
        return self._inner.classify(batch)


@pytest.fixture(scope="module")
def demo_classifier() -> TimmClassifier:
    return TimmClassifier(demo := load_manifest(DEMO_MANIFEST), decoder_for(demo), compile=False, **runtime())


def _demo_container(classifier: Classifier) -> Container:
    container = create_container(Settings(mode="embedded"))
    container.classifier.override(providers.Object(classifier))
    return container


@pytest.fixture(scope="module")
def demo_client(demo_classifier: TimmClassifier) -> Iterator[TestClient]:
    with TestClient(create_embedded_app(_demo_container(demo_classifier))) as client:
        yield client


# Greyscale keeps no colour, and the demo model's classes are colours: those only need to succeed.
ODD = odd_images()
LABELLED = {"rgba": "red circle", "palette": "red circle", "cmyk jpeg": "red circle",
            "exif-rotated jpeg": "red circle"}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(ODD))
def test_an_odd_but_valid_image_is_accepted_and_classified(demo_client: TestClient, kind: str) -> None:
    status, body = _submit(demo_client, ODD[kind])
    assert status == 202, body

    outcome = _outcome(demo_client, body["request_id"])

    assert outcome["status"] == "succeeded", outcome
    if kind in LABELLED:
        result = outcome["result"]
        assert isinstance(result, dict) and result["label"] == LABELLED[kind]


@pytest.mark.slow
def test_an_animated_gif_is_classified_by_its_first_frame(demo_client: TestClient) -> None:
    rng = random.Random(3)
    first, second = draw("red circle", rng, size=(160, 120)), draw("blue square", rng, size=(160, 120))
    gif = encode(first, "GIF", save_all=True, append_images=[second])

    outcome = _outcome(demo_client, _submit(demo_client, gif)[1]["request_id"])

    assert isinstance(result := outcome["result"], dict) and result["label"] == "red circle"


@pytest.mark.slow
def test_truncated_and_corrupt_images_fail_with_invalid_image_and_their_batch_mate_succeeds(
    demo_classifier: TimmClassifier,
) -> None:
    recording = RecordingClassifier(demo_classifier)
    app = create_embedded_app(_demo_container(recording))
    uploads = {
        "good": encode(draw("green square", random.Random(5), size=(160, 120)), "JPEG"),
        "truncated jpeg": truncated_jpeg(),
        "corrupt png": png_with_broken_data(b"\x78\x9c this is not deflate data", 64, 64),
    }
    # Submitted before the worker starts, so that the three make one batch.
    ids = {name: _submit(TestClient(app), image)[1]["request_id"] for name, image in uploads.items()}

    with TestClient(app) as client:
        outcomes = {name: _outcome(client, request_id) for name, request_id in ids.items()}

    assert recording.batch_sizes == [3]
    assert outcomes["good"]["status"] == "succeeded"
    assert isinstance(result := outcomes["good"]["result"], dict) and result["label"] == "green square"
    for name in ("truncated jpeg", "corrupt png"):
        outcome = outcomes[name]
        assert (outcome["status"], outcome["attempts"]) == ("failed", 1), outcome
        assert isinstance(error := outcome["error"], dict) and error["code"] == "invalid_image"
