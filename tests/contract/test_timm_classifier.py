"""The PyTorch/timm classifier on checkpoints the tests build: formats, heads, batches, safety."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from adapters.model.manifest import ManifestError, load_manifest
from adapters.model.timm_classifier import TimmClassifier
from adapters.model.timm_model import build_model
from inference.outcomes import Failure, Prediction
from tests.harness.checkpoints import (
    LABELS,
    decoder_for,
    reference_style_checkpoint,
    runtime,
    safetensors_checkpoint,
    write_manifest,
)
from tests.stubs import a_request

pytestmark = pytest.mark.slow


def _png(seed: int, size: tuple[int, int] = (48, 40)) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


def test_a_safetensors_checkpoint_classifies_a_batch_with_sorted_probabilities(tmp_path: Path) -> None:
    classifier = TimmClassifier(
        m := load_manifest(safetensors_checkpoint(tmp_path)), decoder_for(m), compile=False, **runtime()
    )

    outcomes = classifier.classify([a_request(_png(1), top_k=5), a_request(_png(2), top_k=2)])

    first, second = outcomes
    assert isinstance(first, Prediction) and isinstance(second, Prediction)
    assert len(first.scores) == len(LABELS)  # top_k 5 is capped at the three labels
    assert len(second.scores) == 2
    scores = [item.score for item in first.scores]
    assert scores == sorted(scores, reverse=True)
    assert sum(scores) == pytest.approx(1.0, abs=1e-5)
    assert {item.label for item in first.scores} == set(LABELS)
    assert (first.model_name, first.model_version) == ("tiny", "7")


def test_an_undecodable_image_fails_alone_and_its_batch_mates_succeed(tmp_path: Path) -> None:
    classifier = TimmClassifier(
        m := load_manifest(safetensors_checkpoint(tmp_path)), decoder_for(m), compile=False, **runtime()
    )
    truncated = _png(3)[:60]

    outcomes = classifier.classify([a_request(_png(4)), a_request(truncated), a_request(_png(5))])

    assert isinstance(outcomes[0], Prediction) and isinstance(outcomes[2], Prediction)
    assert isinstance(outcomes[1], Failure) and outcomes[1].code == "invalid_image"


def test_a_batch_gives_the_same_answers_as_one_image_at_a_time(tmp_path: Path) -> None:
    classifier = TimmClassifier(
        m := load_manifest(safetensors_checkpoint(tmp_path)), decoder_for(m), compile=False, **runtime()
    )
    requests = [a_request(_png(seed)) for seed in range(4)]

    together = classifier.classify(requests)
    alone = [classifier.classify([request])[0] for request in requests]

    for batched, single in zip(together, alone, strict=True):
        assert isinstance(batched, Prediction) and isinstance(single, Prediction)
        assert batched.label == single.label
        assert batched.score == pytest.approx(single.score, abs=1e-4)


def test_a_reference_project_checkpoint_loads_with_its_custom_head(tmp_path: Path) -> None:
    manifest = load_manifest(reference_style_checkpoint(tmp_path))
    checkpoint = torch.load(tmp_path / "EfficientNet_tiny.pth", weights_only=True)["model_state_dict"]

    model = build_model(manifest)

    loaded = model.state_dict()
    assert torch.equal(loaded["classifier.bn1.running_mean"], checkpoint["fc.bn1.running_mean"])
    assert torch.equal(loaded["classifier.linear2.weight"], checkpoint["fc.linear2.weight"])


def test_a_head_ending_in_softmax_is_not_softmaxed_twice(tmp_path: Path) -> None:
    manifest = load_manifest(reference_style_checkpoint(tmp_path))
    classifier = TimmClassifier(manifest, decoder_for(manifest), compile=False, **runtime())
    image = _png(6, size=(32, 32))
    pixels = np.asarray(Image.open(io.BytesIO(image)), dtype=np.float32) / 255
    pixels = (pixels - np.asarray(manifest.mean, np.float32)) / np.asarray(manifest.std, np.float32)
    with torch.inference_mode():
        expected = build_model(manifest)(torch.from_numpy(pixels.transpose(2, 0, 1)[None].copy()))[0]

    outcome = classifier.classify([a_request(image)])[0]

    assert isinstance(outcome, Prediction)
    by_label = {item.label: item.score for item in outcome.scores}
    for index, label in enumerate(LABELS):
        assert by_label[label] == pytest.approx(float(expected[index]), abs=1e-4)


def test_a_head_whose_width_does_not_match_the_backbone_fails_with_a_clear_message(
    tmp_path: Path,
) -> None:
    manifest = load_manifest(reference_style_checkpoint(tmp_path, head_in_features=2048))

    with pytest.raises(ManifestError, match=r"linear1.*expects 2048 input features but receives 1280"):
        build_model(manifest)


def test_a_head_with_an_unsupported_layer_type_is_refused(tmp_path: Path) -> None:
    path = write_manifest(
        tmp_path, "weights.safetensors", head={"layers": [{"type": "Conv2d", "name": "conv"}]}
    )
    (tmp_path / "weights.safetensors").write_bytes(b"")

    with pytest.raises(ManifestError, match=r"unsupported type 'Conv2d'.*supported: Linear"):
        build_model(load_manifest(path))


def test_weights_that_do_not_fit_the_architecture_are_refused(tmp_path: Path) -> None:
    safetensors_checkpoint(tmp_path)
    path = write_manifest(tmp_path, "weights.safetensors", labels=["a", "b", "c", "d", "e"])

    with pytest.raises(ManifestError, match=r"do not fit"):
        build_model(load_manifest(path))


class _NotATensor:
    pass


def test_a_checkpoint_that_holds_arbitrary_objects_is_never_unpickled(tmp_path: Path) -> None:
    safetensors_checkpoint(tmp_path)
    with (tmp_path / "evil.pth").open("wb") as out:
        # Protocol 2, as torch.save writes: torch.load warns about any other before refusing it.
        pickle.dump({"model_state_dict": {}, "payload": _NotATensor()}, out, protocol=2)
    path = write_manifest(tmp_path, "evil.pth")

    with pytest.raises(ManifestError, match=r"cannot load evil\.pth"):
        build_model(load_manifest(path))


def test_a_missing_weights_file_is_named_in_the_error(tmp_path: Path) -> None:
    path = write_manifest(tmp_path, "nowhere.safetensors")

    with pytest.raises(ManifestError, match=r"nowhere\.safetensors does not exist"):
        build_model(load_manifest(path))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"labels": ["only"]}, "at least two"),
        ({"interpolation": "magic"}, "interpolation must be one of"),
        ({"crop_pct": 1.5}, "crop_pct"),
        ({"input_size": 0}, "input_size"),
    ],
)
def test_a_malformed_manifest_is_refused_with_the_reason(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    path = write_manifest(tmp_path, "weights.safetensors", **change)

    with pytest.raises(ManifestError, match=message):
        load_manifest(path)
