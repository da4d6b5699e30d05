"""The Classifier port's contract, written once for every implementation.

A test module subclasses ClassifierContract and provides a `subject` fixture (a
ClassifierHarness), parametrized by implementation: the stub the unit tests lean on, and the
real backends on the demo model. Outcomes of the same image are compared across batches rather
than with known labels, so that a stub with canned scores and a real model answer the same
questions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from PIL import Image

from inference.outcomes import Failure, Prediction
from inference.ports import Classifier
from tests.images import encode, png_bytes, shape
from tests.stubs import a_request, undecodable_image

# Batched and single forward passes may differ in the last bits of a float.
SCORE_TOLERANCE = 1e-4


@dataclass(frozen=True)
class ClassifierHarness:
    """How the contract reaches one implementation. `max_pixels` is the pixel limit it was built
    with, None if it decodes nothing and so has none."""

    classifier: Classifier
    max_pixels: int | None = None


def images() -> list[bytes]:
    return [encode(shape(label, seed=n), "PNG") for n, label in enumerate(("red circle", "blue square"))]


def predictions(outcomes: Sequence[Prediction | Failure]) -> list[Prediction]:
    assert all(isinstance(o, Prediction) for o in outcomes), outcomes
    return [o for o in outcomes if isinstance(o, Prediction)]


def assert_same(first: Prediction, second: Prediction) -> None:
    assert [s.label for s in first.scores] == [s.label for s in second.scores]
    for a, b in zip(first.scores, second.scores, strict=True):
        assert a.score == pytest.approx(b.score, abs=SCORE_TOLERANCE)


class ClassifierContract:
    @pytest.fixture
    def classifier(self, subject: ClassifierHarness) -> Classifier:
        return subject.classifier

    def test_the_model_has_a_name_a_version_labels_and_an_input_size(self, classifier: Classifier) -> None:
        model = classifier.model

        assert model.name and model.version
        assert model.labels and len(set(model.labels)) == len(model.labels)
        assert model.input_size >= 1

    def test_there_is_one_outcome_per_request_in_the_order_of_the_batch(self, classifier: Classifier) -> None:
        first, second = images()
        alone = [predictions(classifier.classify([a_request(image)]))[0] for image in (first, second)]

        batched = predictions(classifier.classify([a_request(i) for i in (first, second, first)]))

        assert len(batched) == 3
        for outcome, expected in zip(batched, [alone[0], alone[1], alone[0]], strict=True):
            assert_same(outcome, expected)

    @pytest.mark.parametrize("top_k", [1, 2, 5, 1000])
    def test_a_prediction_holds_the_requested_number_of_labels_best_first(
        self, classifier: Classifier, top_k: int
    ) -> None:
        labels = classifier.model.labels

        [prediction] = predictions(classifier.classify([a_request(images()[0], top_k=top_k)]))

        assert len(prediction.scores) == min(top_k, len(labels))
        assert len({s.label for s in prediction.scores}) == len(prediction.scores)
        assert {s.label for s in prediction.scores} <= set(labels)
        scores = [s.score for s in prediction.scores]
        assert scores == sorted(scores, reverse=True)
        assert all(0.0 <= score <= 1.0 for score in scores)

    def test_a_prediction_names_the_model_that_made_it(self, classifier: Classifier) -> None:
        [prediction] = predictions(classifier.classify([a_request(images()[0])]))

        assert (prediction.model_name, prediction.model_version) == (
            classifier.model.name,
            classifier.model.version,
        )

    def test_an_undecodable_image_fails_alone_as_invalid_image(self, classifier: Classifier) -> None:
        first, second = images()
        alone = [predictions(classifier.classify([a_request(image)]))[0] for image in (first, second)]

        outcomes = classifier.classify([a_request(first), a_request(undecodable_image()), a_request(second)])

        assert isinstance(failure := outcomes[1], Failure) and failure.code == "invalid_image"
        assert failure.message
        assert isinstance(outcomes[0], Prediction) and isinstance(outcomes[2], Prediction)
        assert_same(outcomes[0], alone[0])
        assert_same(outcomes[2], alone[1])

    def test_an_image_past_the_pixel_limit_fails_alone_as_image_too_large(
        self, subject: ClassifierHarness
    ) -> None:
        if subject.max_pixels is None:
            pytest.skip("this classifier decodes nothing, so it has no pixel limit")
        side = int(subject.max_pixels**0.5) + 1
        big = png_bytes(side, side)

        outcomes = subject.classifier.classify([a_request(big), a_request(images()[0])])

        assert isinstance(failure := outcomes[0], Failure) and failure.code == "image_too_large"
        assert isinstance(outcomes[1], Prediction)

    def test_an_animation_is_classified_by_its_first_frame(self, classifier: Classifier) -> None:
        first, second = shape("red circle", seed=1), shape("blue square", seed=2)
        animation = encode(first, "GIF", save_all=True, append_images=[second])
        still = encode(first.convert("P", palette=Image.Palette.ADAPTIVE), "GIF")

        [moving, standing] = predictions(classifier.classify([a_request(animation), a_request(still)]))

        assert_same(moving, standing)
