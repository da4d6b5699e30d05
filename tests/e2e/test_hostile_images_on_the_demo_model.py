"""Odd but valid images through the HTTP API, classified by the real demo model.

Images whose damage only a full decode can find are accepted, then fail alone with
`invalid_image`, their batch-mates unharmed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import pytest
from fastapi.testclient import TestClient

from adapters.model.manifest import load_manifest
from adapters.model.timm_classifier import TimmClassifier
from demo.shapes import draw
from entrypoints.embedded import create_embedded_app
from entrypoints.settings import DEMO_MANIFEST
from inference.domain import InferenceRequest
from inference.outcomes import Failure, ModelInfo, Prediction
from inference.ports import Classifier
from tests.harness import SUBMIT
from tests.harness.checkpoints import decoder_for, runtime
from tests.images import encode, odd_images, png_with_broken_data, truncated_jpeg
from tests.service import memory_client, memory_container, submit_upload

pytestmark = pytest.mark.slow


def outcome_of(client: TestClient, request_id: object) -> dict[str, object]:
    body: dict[str, object] = client.get(f"{SUBMIT}/{request_id}/results", params={"wait": 20}).json()
    return body


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


@pytest.fixture(scope="module")
def demo_client(demo_classifier: TimmClassifier) -> Iterator[TestClient]:
    with memory_client(classifier=demo_classifier) as client:
        yield client


# Greyscale keeps no colour, and the demo model's classes are colours: those only need to succeed.
ODD = odd_images()
LABELLED = {"rgba": "red circle", "palette": "red circle", "cmyk jpeg": "red circle",
            "exif-rotated jpeg": "red circle"}  # fmt: skip


@pytest.mark.parametrize("kind", list(ODD))
def test_an_odd_but_valid_image_is_accepted_and_classified(demo_client: TestClient, kind: str) -> None:
    status, body = submit_upload(demo_client, ODD[kind])
    assert status == 202, body

    outcome = outcome_of(demo_client, body["request_id"])

    assert outcome["status"] == "succeeded", outcome
    if kind in LABELLED:
        result = outcome["result"]
        assert isinstance(result, dict) and result["label"] == LABELLED[kind]


def test_an_animated_gif_is_classified_by_its_first_frame(demo_client: TestClient) -> None:
    rng = random.Random(3)
    first, second = draw("red circle", rng, size=(160, 120)), draw("blue square", rng, size=(160, 120))
    gif = encode(first, "GIF", save_all=True, append_images=[second])

    outcome = outcome_of(demo_client, submit_upload(demo_client, gif)[1]["request_id"])

    assert isinstance(result := outcome["result"], dict) and result["label"] == "red circle"


def test_truncated_and_corrupt_images_fail_with_invalid_image_and_their_batch_mate_succeeds(
    demo_classifier: TimmClassifier,
) -> None:
    recording = RecordingClassifier(demo_classifier)
    app = create_embedded_app(memory_container(classifier=recording))
    uploads = {
        "good": encode(draw("green square", random.Random(5), size=(160, 120)), "JPEG"),
        "truncated jpeg": truncated_jpeg(),
        "corrupt png": png_with_broken_data(b"\x78\x9c this is not deflate data", 64, 64),
    }
    # Submitted before the worker starts, so that the three make one batch.
    ids = {name: submit_upload(TestClient(app), image)[1]["request_id"] for name, image in uploads.items()}

    with TestClient(app) as client:
        outcomes = {name: outcome_of(client, request_id) for name, request_id in ids.items()}

    assert recording.batch_sizes == [3]
    assert outcomes["good"]["status"] == "succeeded"
    assert isinstance(result := outcomes["good"]["result"], dict) and result["label"] == "green square"
    for name in ("truncated jpeg", "corrupt png"):
        outcome = outcomes[name]
        assert (outcome["status"], outcome["attempts"]) == ("failed", 1), outcome
        assert isinstance(error := outcome["error"], dict) and error["code"] == "invalid_image"
