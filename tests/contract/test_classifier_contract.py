from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from adapters.images import BatchDecoder
from adapters.model.manifest import ModelManifest, load_manifest
from adapters.model.onnxruntime_classifier import OnnxRuntimeClassifier
from adapters.model.timm_classifier import TimmClassifier
from entrypoints.settings import DEMO_MANIFEST
from inference.ports import Classifier
from tests.contract.classifier_contract import ClassifierContract, ClassifierHarness
from tests.harness.checkpoints import decoder_for, runtime
from tests.stubs import StubClassifier

# Small enough that a test image a little past it stays cheap to build and to refuse.
MAX_PIXELS = 40_000

Build = Callable[[ModelManifest, BatchDecoder, Path], Classifier]


def stub_harness(tmp: Path) -> Iterator[ClassifierHarness]:
    yield ClassifierHarness(StubClassifier(labels=("cat", "dog", "fish", "fox")))


def demo_model_harness(build: Build) -> Callable[[Path], Iterator[ClassifierHarness]]:
    def harness(tmp: Path) -> Iterator[ClassifierHarness]:
        manifest = load_manifest(DEMO_MANIFEST)
        decoder = decoder_for(manifest, max_pixels=MAX_PIXELS)
        try:
            yield ClassifierHarness(build(manifest, decoder, tmp), max_pixels=MAX_PIXELS)
        finally:
            decoder.close()

    return harness


class TestClassifierContract(ClassifierContract):
    # Class-scoped: a real backend loads (and for ONNX exports) the model once for the suite.
    @pytest.fixture(
        scope="class",
        params=[
            pytest.param(stub_harness, id="stub"),
            pytest.param(
                demo_model_harness(
                    lambda manifest, decoder, _: TimmClassifier(manifest, decoder, compile=False, **runtime())
                ),
                id="torch",
                marks=pytest.mark.slow,
            ),
            pytest.param(
                demo_model_harness(
                    lambda manifest, decoder, cache: OnnxRuntimeClassifier(
                        manifest, decoder, cache, **runtime()
                    )
                ),
                id="onnxruntime",
                marks=pytest.mark.slow,
            ),
        ],
    )
    @classmethod
    def subject(
        cls, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[ClassifierHarness]:
        yield from request.param(tmp_path_factory.mktemp("onnx-cache"))
