"""End to end with the bundled demo model: real classifier, real HTTP, freshly drawn images."""

from __future__ import annotations

import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from demo.shapes import LABELS, draw
from entrypoints.container import create_container
from entrypoints.embedded import create_embedded_app
from entrypoints.settings import Settings
from tests.harness import SUBMIT
from tests.harness.cluster import INFERENCE, ROOT, inference_serve  # the console script a user runs
from tests.images import encode

pytestmark = pytest.mark.slow


def _fresh_images(seed: int, per_label: int) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)  # a seed the training script never used
    images = []
    for label in LABELS:
        for _ in range(per_label):
            image = draw(label, rng)
            fmt = rng.choice(["PNG", "JPEG"])
            images.append((label, encode(image, fmt, **({"quality": 90} if fmt == "JPEG" else {}))))
    return images


def test_the_demo_model_classifies_freshly_drawn_images_through_the_api() -> None:
    images = _fresh_images(seed=20261124, per_label=3)
    with TestClient(create_embedded_app(create_container(Settings(mode="embedded")))) as client:
        ids = [
            client.post(SUBMIT, files={"image": ("shape", data)}).json()["request_id"] for _, data in images
        ]
        bodies = [client.get(f"{SUBMIT}/{rid}/results", params={"wait": 30}).json() for rid in ids]

    assert [b["status"] for b in bodies] == ["succeeded"] * len(images)
    predicted = [b["result"]["label"] for b in bodies]
    correct = sum(p == label for p, (label, _) in zip(predicted, images, strict=True))
    print(f"demo model through the API: {correct}/{len(images)} correct")
    assert correct >= len(images) - 1, list(zip(predicted, [label for label, _ in images], strict=True))


@pytest.fixture
def served() -> Iterator[str]:
    with inference_serve() as (url, _):
        yield url


def test_inference_serve_answers_a_curl_style_upload_with_the_right_label(
    served: str, tmp_path: Path
) -> None:
    image = draw("blue triangle", random.Random(7), size=(300, 220))
    path = tmp_path / "some.png"
    image.save(path)

    submitted = httpx.post(f"{served}{SUBMIT}", files={"image": path.open("rb")})
    assert submitted.status_code == 202
    body = httpx.get(f"{served}{submitted.headers['location']}", params={"wait": 10}, timeout=15).json()

    assert body["status"] == "succeeded"
    assert body["result"]["label"] == "blue triangle"


def test_the_classify_command_prints_a_label_per_file(served: str, tmp_path: Path) -> None:
    rng = random.Random(99)
    files = []
    for label in ("red circle", "green square"):
        path = tmp_path / f"{label.replace(' ', '-')}.jpg"
        draw(label, rng).save(path, quality=92)
        files.append(str(path))

    result = subprocess.run(
        [INFERENCE, "classify", "--url", served, *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].split("\t")[1].startswith("red circle")
    assert lines[1].split("\t")[1].startswith("green square")
