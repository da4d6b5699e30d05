"""The default ImageNet model on real photos: through HTTP, on every backend, and as a user starts it.

The photos are scikit-image's bundled samples. Each one's acceptable labels were chosen from the
fp32 PyTorch reference's own top-5 (`python -m bench.imagenet_preprocessing` shows them), so the
tests hold the service to the reference, not to a hope.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageOps

from entrypoints.container import create_container
from entrypoints.embedded import create_embedded_app
from entrypoints.settings import IMAGENET_MANIFEST, ModelSettings, Settings
from inference.outcomes import Prediction
from tests.e2e.serving import ACCEPTABLE, inference_serve, photo
from tests.stubs import a_request

pytestmark = pytest.mark.slow

SUBMIT = "/api/inference/requests"
CATS = {"tabby, tabby cat", "tiger cat", "Persian cat", "Siamese cat, Siamese", "Egyptian cat"}
BACKENDS = ("torch", "onnxruntime", "openvino")


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ONNX export of the model for the module's backends and its served process."""
    return tmp_path_factory.mktemp("onnx-cache")


def _settings(backend: str, cache: Path) -> Settings:
    model = ModelSettings(manifest=IMAGENET_MANIFEST, backend=backend, cache_dir=cache)
    return Settings(mode="embedded", model=model)


def _variants(name: str) -> list[tuple[str, bytes]]:
    """The photo, mirrored, upside down, and three crops of it: PNG-encoded."""
    image = Image.open(photo(name)).convert("RGB")
    width, height = image.size
    shapes = {
        "": image,
        "mirrored": ImageOps.mirror(image),
        "flipped": ImageOps.flip(image),
        "centre": image.crop((width // 6, height // 6, width - width // 6, height - height // 6)),
        "left": image.crop((0, 0, width * 3 // 4, height)),
        "bottom right": image.crop((width // 5, height // 5, width, height)),
    }
    encoded = []
    for variant, shape in shapes.items():
        out = io.BytesIO()
        shape.save(out, "PNG")
        encoded.append((f"{name} {variant}".strip(), out.getvalue()))
    return encoded


def _top1(backend: str, cache: Path, images: list[bytes]) -> list[tuple[str, float]]:
    container = create_container(_settings(backend, cache))
    try:
        classifier = container.classifier()
        outcomes = classifier.classify([a_request(image, top_k=2) for image in images])
    finally:
        container.shutdown_resources()
    predictions = [o for o in outcomes if isinstance(o, Prediction)]
    assert len(predictions) == len(images), outcomes
    return [(p.scores[0].label, p.scores[0].score - p.scores[1].score) for p in predictions]


def test_the_labels_are_timms_imagenet_names_in_class_order() -> None:
    from timm.data import ImageNetInfo  # type: ignore[attr-defined]

    info = ImageNetInfo()
    names = [info.index_to_description(i) for i in range(1000)]
    twice = {name for name, count in Counter(names).items() if count > 1}
    expected = [f"{n} ({info.index_to_label_name(i)})" if n in twice else n for i, n in enumerate(names)]

    assert (IMAGENET_MANIFEST.parent / "labels.txt").read_text().splitlines() == expected


def test_every_backend_agrees_with_the_pytorch_reference_on_photos_crops_and_flips(onnx_cache: Path) -> None:
    named = [variant for name in ACCEPTABLE for variant in _variants(name)]
    images = [data for _, data in named]
    reference = _top1("torch", onnx_cache, images)

    for backend in BACKENDS[1:]:
        found = _top1(backend, onnx_cache, images)
        disagreements = [
            f"{name}: {theirs[0]} vs the reference's {ours[0]} (margin {ours[1]:.4f})"
            for (name, _), theirs, ours in zip(named, found, reference, strict=True)
            if theirs[0] != ours[0]
        ]
        assert not disagreements, f"{backend}: {disagreements}"
    print(f"{len(images)} images, top-1 identical on {', '.join(BACKENDS)}")


@pytest.fixture(scope="module")
def served_in_process(onnx_cache: Path) -> Iterator[TestClient]:
    """The service as `inference serve` builds it (the default backend), in this process."""
    settings = _settings(ModelSettings.model_fields["backend"].default, onnx_cache)
    with TestClient(create_embedded_app(create_container(settings))) as client:
        yield client


@pytest.mark.parametrize("name", sorted(ACCEPTABLE))
def test_the_served_top_5_holds_a_sensible_label_for_a_real_photo(
    served_in_process: TestClient, name: str
) -> None:
    with photo(name).open("rb") as image:
        submitted = served_in_process.post(SUBMIT, params={"top_k": 5}, files={"image": image})
    assert submitted.status_code == 202, submitted.text
    body = served_in_process.get(submitted.headers["location"], params={"wait": 30}).json()

    assert body["status"] == "succeeded", body
    top_5 = [item["label"] for item in body["result"]["top_k"]]
    assert ACCEPTABLE[name] & set(top_5), f"{name}: {top_5}"
    assert body["result"]["model"]["name"] == "efficientnet-lite0-imagenet"


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl, as the README's example does")
def test_a_fresh_inference_serve_answers_a_cat_photo_sent_with_curl_with_a_cat(onnx_cache: Path) -> None:
    # No model setting at all (the tests otherwise pin the demo model): the default a user gets.
    env = {"INFERENCE_MODEL__MANIFEST": None, "INFERENCE_MODEL__CACHE_DIR": str(onnx_cache)}
    with inference_serve(env=env) as url:
        models = json.loads(_curl(f"{url}/api/models"))
        accepted = json.loads(_curl("-F", f"image=@{photo('chelsea.png')}", f"{url}{SUBMIT}"))
        body = json.loads(_curl(f"{url}{accepted['results_url']}?wait=10"))

    assert models["name"] == "efficientnet-lite0-imagenet" and len(models["labels"]) == 1000
    assert body["status"] == "succeeded", body
    assert body["result"]["label"] in CATS, body["result"]


def _curl(*args: str) -> str:
    done = subprocess.run(
        ["curl", "-sS", "--fail-with-body", *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout
