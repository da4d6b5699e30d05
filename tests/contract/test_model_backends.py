"""Every model backend behind the Classifier port gives the fp32 PyTorch model's answers.

The reference is the demo model run eagerly in fp32 NCHW, as it was trained; the images are its
held-out set (demo/model/metrics.json: `heldout_seed: 1`), preprocessed once as the service does.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import openvino as ov
import pytest
import torch
from PIL import Image
from pydantic import ValidationError

from adapters.model.base import ArrayClassifier, BackendError
from adapters.model.manifest import ModelManifest, load_manifest
from adapters.model.onnxruntime_classifier import OnnxRuntimeClassifier
from adapters.model.openvino_classifier import OpenVINOClassifier
from adapters.model.timm_classifier import TimmClassifier
from adapters.model.timm_model import build_model
from demo.shapes import draw, iter_dataset
from entrypoints.container import create_container
from entrypoints.settings import DEMO_MANIFEST, Settings
from inference.outcomes import Failure, Prediction
from tests.harness.checkpoints import LABELS, decoder_for, reference_style_checkpoint, runtime
from tests.stubs import a_request

HELDOUT_SEED = 1
HELDOUT_IMAGES = 300
BATCH = 8  # the worker's batches are small; 300 is not a multiple, so the last one is ragged

TORCH_BF16 = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
OPENVINO_BF16 = "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
Build = Callable[[ModelManifest, Path], ArrayClassifier]

BACKENDS: dict[str, Build] = {
    "torch fp32": lambda manifest, cache: TimmClassifier(
        manifest, decoder_for(manifest), compile=False, **runtime()
    ),
    "torch.compile fp32": lambda manifest, cache: TimmClassifier(
        manifest, decoder_for(manifest), compile=True, **runtime()
    ),
    "onnxruntime fp32": lambda manifest, cache: OnnxRuntimeClassifier(
        manifest, decoder_for(manifest), cache, **runtime()
    ),
    "openvino fp32": lambda manifest, cache: OpenVINOClassifier(
        manifest, decoder_for(manifest), cache, int8_model=None, **runtime()
    ),
    "openvino fp32, latency hint only": lambda manifest, cache: OpenVINOClassifier(
        manifest, decoder_for(manifest), cache, hint="latency", int8_model=None, **runtime()
    ),
    "openvino fp32, throughput hint only": lambda manifest, cache: OpenVINOClassifier(
        manifest, decoder_for(manifest), cache, hint="throughput", int8_model=None, **runtime()
    ),
}
BF16_BACKENDS: dict[str, tuple[Build, bool]] = {
    "torch bf16": (
        lambda manifest, cache: TimmClassifier(
            manifest, decoder_for(manifest), compile=False, **runtime(precision="bf16")
        ),
        TORCH_BF16,
    ),
    "openvino bf16": (
        lambda manifest, cache: OpenVINOClassifier(
            manifest, decoder_for(manifest), cache, int8_model=None, **runtime(precision="bf16")
        ),
        OPENVINO_BF16,
    ),
}


@pytest.fixture(scope="module")
def demo() -> ModelManifest:
    return load_manifest(DEMO_MANIFEST)


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def heldout(demo: ModelManifest) -> npt.NDArray[np.float32]:
    encoded = []
    for image, _ in iter_dataset(HELDOUT_IMAGES, seed=HELDOUT_SEED):
        out = io.BytesIO()
        image.save(out, "PNG")
        encoded.append(out.getvalue())
    decoder = decoder_for(demo)
    pixels, errors = decoder.decode(encoded)
    decoder.close()
    assert not any(errors)
    return pixels


@pytest.fixture(scope="module")
def reference(demo: ModelManifest, heldout: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Probabilities of the demo model as trained: eager, fp32, NCHW."""
    with torch.no_grad():
        logits = build_model(demo)(torch.from_numpy(heldout))
    probabilities: npt.NDArray[np.float32] = logits.softmax(dim=1).numpy()
    return probabilities


def _probabilities(classifier: ArrayClassifier, pixels: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return np.concatenate(
        [classifier.probabilities(pixels[start : start + BATCH]) for start in range(0, len(pixels), BATCH)]
    )


@pytest.mark.slow
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_an_fp32_backend_gives_the_references_top_1_on_every_held_out_image(
    backend: str,
    demo: ModelManifest,
    onnx_cache: Path,
    heldout: npt.NDArray[np.float32],
    reference: npt.NDArray[np.float32],
) -> None:
    classifier = BACKENDS[backend](demo, onnx_cache)

    probabilities = _probabilities(classifier, heldout)

    assert np.array_equal(probabilities.argmax(axis=1), reference.argmax(axis=1))
    assert np.abs(probabilities - reference).max() < 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("backend", list(BF16_BACKENDS))
def test_a_bf16_backend_gives_the_references_top_1_on_at_least_99_percent_of_held_out_images(
    backend: str,
    demo: ModelManifest,
    onnx_cache: Path,
    heldout: npt.NDArray[np.float32],
    reference: npt.NDArray[np.float32],
) -> None:
    build, supported = BF16_BACKENDS[backend]
    if not supported:
        pytest.skip(f"{backend}: this CPU has neither AVX512-BF16 nor AMX, so bf16 is refused")
    classifier = build(demo, onnx_cache)

    probabilities = _probabilities(classifier, heldout)

    assert np.mean(probabilities.argmax(axis=1) == reference.argmax(axis=1)) >= 0.99


def _png(size: tuple[int, int], colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def _drawn(label: str) -> bytes:
    out = io.BytesIO()
    draw(label, random.Random(label), size=(160, 120)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_an_onnx_backend_fails_bad_images_alone_and_classifies_their_batch_mates(
    backend: str, demo: ModelManifest, onnx_cache: Path
) -> None:
    limit = 200 * 150
    classifier: ArrayClassifier = (
        OnnxRuntimeClassifier(demo, decoder_for(demo, max_pixels=limit), onnx_cache, **runtime())
        if backend == "onnxruntime"
        else OpenVINOClassifier(
            demo, decoder_for(demo, max_pixels=limit), onnx_cache, int8_model=None, **runtime()
        )
    )
    batch = [_drawn("red square"), _drawn("red square")[:80], _png((300, 300)), _drawn("blue circle")]

    outcomes = classifier.classify([a_request(image, top_k=2) for image in batch])

    assert [type(outcome) for outcome in outcomes] == [Prediction, Failure, Failure, Prediction]
    assert [outcome.code for outcome in outcomes if isinstance(outcome, Failure)] == [
        "invalid_image",
        "image_too_large",
    ]
    first, last = outcomes[0], outcomes[3]
    assert isinstance(first, Prediction) and isinstance(last, Prediction)
    assert (first.label, last.label) == ("red square", "blue circle")
    assert len(first.scores) == 2 and first.scores[0].score >= first.scores[1].score


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["onnxruntime fp32", "openvino fp32"])
def test_a_head_ending_in_softmax_is_exported_and_not_softmaxed_twice(backend: str, tmp_path: Path) -> None:
    manifest = load_manifest(reference_style_checkpoint(tmp_path))
    pixels = np.random.default_rng(6).standard_normal((3, 3, 32, 32), dtype=np.float32)
    with torch.no_grad():
        expected = build_model(manifest)(torch.from_numpy(pixels)).numpy()

    probabilities = BACKENDS[backend](manifest, tmp_path / "cache").probabilities(pixels)

    assert probabilities.shape == (3, len(LABELS))
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda m, cache: OnnxRuntimeClassifier(m, decoder_for(m), cache, **runtime(precision="bf16")),
            "onnxruntime runs fp32 only; for bf16 use backend torch or openvino",
        ),
        (
            lambda m, cache: OnnxRuntimeClassifier(m, decoder_for(m), cache, **runtime(precision="fp16")),
            "onnxruntime runs fp32 only; for fp16 use backend torch on a cuda device",
        ),
        (
            lambda m, cache: OpenVINOClassifier(
                m, decoder_for(m), cache, int8_model=None, **runtime(precision="fp16")
            ),
            "fp16 needs backend torch on a cuda",
        ),
        (
            lambda m, cache: OpenVINOClassifier(
                m, decoder_for(m), cache, int8_model=None, **runtime(device="cuda")
            ),
            "openvino runs on the cpu",
        ),
        (
            lambda m, cache: TimmClassifier(m, decoder_for(m), compile=False, **runtime(precision="fp16")),
            "fp16 needs a cuda device",
        ),
    ],
    ids=["onnxruntime bf16", "onnxruntime fp16", "openvino fp16", "openvino cuda", "torch fp16 on cpu"],
)
def test_a_precision_or_device_the_backend_cannot_run_is_refused_with_what_can(
    build: Build, message: str, demo: ModelManifest, tmp_path: Path
) -> None:
    with pytest.raises(BackendError, match=message):
        build(demo, tmp_path)

    assert not list(tmp_path.iterdir())  # refused before exporting anything


def test_onnxruntime_on_cuda_without_the_gpu_build_is_refused(demo: ModelManifest, tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="needs the onnxruntime-gpu build"):
        OnnxRuntimeClassifier(demo, decoder_for(demo), tmp_path, **runtime(device="cuda"))


def test_bf16_on_a_cpu_without_bf16_instructions_is_refused(
    demo: ModelManifest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)

    class CoreWithoutBf16:
        def get_property(self, device: str, name: str) -> list[str]:
            return ["FP32", "INT8", "EXPORT_IMPORT"]

    monkeypatch.setattr(ov, "Core", CoreWithoutBf16)

    with pytest.raises(BackendError, match="bf16 on the CPU needs AVX512-BF16 or AMX"):
        TimmClassifier(demo, decoder_for(demo), compile=False, **runtime(precision="bf16"))
    with pytest.raises(BackendError, match="openvino needs a CPU with AVX512-BF16 or AMX"):
        OpenVINOClassifier(demo, decoder_for(demo), tmp_path, int8_model=None, **runtime(precision="bf16"))


@pytest.mark.parametrize(
    ("backend", "expected"),
    [("torch", TimmClassifier), ("onnxruntime", OnnxRuntimeClassifier), ("openvino", OpenVINOClassifier)],
)
def test_the_container_builds_the_configured_backend(
    backend: str, expected: type[ArrayClassifier], onnx_cache: Path
) -> None:
    settings = Settings(model={"backend": backend, "cache_dir": onnx_cache})
    classifier = create_container(settings).classifier()

    assert isinstance(classifier, expected)
    outcome = classifier.classify([a_request(_drawn("green square"))])[0]
    assert isinstance(outcome, Prediction) and outcome.label == "green square"


def test_compile_with_a_backend_other_than_torch_is_refused_by_the_settings() -> None:
    with pytest.raises(ValidationError, match="compile applies to backend torch only, not openvino"):
        Settings(model={"backend": "openvino", "compile": True})


def test_an_unknown_backend_or_precision_is_refused_by_the_settings() -> None:
    with pytest.raises(ValidationError, match="'torch', 'onnxruntime' or 'openvino'"):
        Settings(model={"backend": "tensorflow"})
    with pytest.raises(ValidationError, match="'fp32', 'bf16', 'fp16' or 'int8'"):
        Settings(model={"precision": "fp8"})
