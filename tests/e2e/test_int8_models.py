"""`inference quantize` and precision int8: the INT8 model agrees with fp32, or is not written.

Held-out sets never overlap the calibration set. The demo model's is freshly drawn shapes with
their mirror images and upside-down copies; the ImageNet model's is the five ImageNet-like photos
of scikit-image with crops and mirror images, calibrated on the other twenty photos' crops.
Quantizing runs NNCF in-process on a few dozen images: seconds for the demo model.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageOps

from adapters.model.int8_choices import overflow_fix
from demo.shapes import LABELS, draw
from entrypoints.cli import main
from entrypoints.container import create_container
from entrypoints.embedded import create_embedded_app
from entrypoints.settings import DEMO_MANIFEST, ModelSettings, Settings
from entrypoints.startup_errors import ModelLoadError
from tests.e2e.serving import ACCEPTABLE, photo

SUBMIT = "/api/inference/requests"


def _write(folder: Path, images: dict[str, Image.Image]) -> Path:
    folder.mkdir()
    for name, image in images.items():
        image.save(folder / f"{name}.png")
    return folder


def _shapes(seed: int, count: int) -> dict[str, Image.Image]:
    rng = random.Random(seed)
    return {f"{i:03d} {LABELS[i % 9]}": draw(LABELS[i % 9], rng, size=(160, 120)) for i in range(count)}


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("int8-cache")


@pytest.fixture(scope="module")
def quantized_demo(tmp_path_factory: pytest.TempPathFactory, cache: Path) -> tuple[int, str, str]:
    """`inference quantize` on the demo model once: (exit status, stdout, stderr)."""
    root = tmp_path_factory.mktemp("demo-images")
    calibration = _write(root / "calibration", _shapes(seed=1, count=36))
    fresh = _shapes(seed=2, count=40)
    held_out = fresh | {f"{name} mirrored": ImageOps.mirror(image) for name, image in fresh.items()}
    held_out |= {f"{name} upside down": ImageOps.flip(image) for name, image in fresh.items()}
    return _quantize("demo", calibration, _write(root / "held-out", held_out), cache)


def _quantize(model: str, calibration: Path, held_out: Path, cache: Path) -> tuple[int, str, str]:
    # In-process, its streams captured here: capsys is per test, and this runs in a module fixture too.
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        options = ["--held-out", str(held_out), "--samples", "64", "--cache-dir", str(cache)]
        status = main(["quantize", "--manifest", model, "--calibration", str(calibration), *options])
    return status, out.getvalue(), err.getvalue()


def test_the_demo_model_in_int8_agrees_with_fp32_on_99_percent_of_held_out_shapes(
    quantized_demo: tuple[int, str, str],
) -> None:
    status, out, err = quantized_demo

    assert status == 0, err
    report = json.loads((Path(out.strip()) / "quantization.json").read_text())
    assert report["held_out_images"] == 120
    assert report["top1_agreement"] >= 0.99, report
    # It agrees with every layer in int8, converted: the first choice, none kept back.
    assert (report["graph"], report["fp32_layers"]) == ("converted", []), report


def test_the_int8_model_keeps_silu_as_one_swish_so_the_cpu_fuses_it_into_the_int8_convolutions(
    quantized_demo: tuple[int, str, str],
) -> None:
    import openvino as ov

    model = ov.Core().read_model(Path(quantized_demo[1].strip()) / "model.xml")
    operations = [operation.get_type_name() for operation in model.get_ops()]

    # tinynet_e's SiLU reaches ONNX as x * sigmoid(x); read as such, NNCF quantizes between the
    # two and the compiled model falls back to fp32 around every activation (see quantize.py).
    assert operations.count("Swish") >= 10, sorted(set(operations))


def test_quantizing_again_on_the_same_images_reuses_the_cached_model_and_checks_it_again(
    quantized_demo: tuple[int, str, str], cache: Path, tmp_path: Path
) -> None:
    first = Path(quantized_demo[1].strip())
    calibration, held_out = tmp_path / "calibration", tmp_path / "held-out"
    _write(calibration, _shapes(seed=1, count=36))
    _write(held_out, _shapes(seed=3, count=18))

    status, out, err = _quantize("demo", calibration, held_out, cache)

    assert status == 0, err
    assert Path(out.strip()) == first
    assert "found in the cache, checked again" in err
    assert "of 18 held-out images" in err


def test_a_model_calibrated_on_black_images_is_refused_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    calibration = _write(tmp_path / "black", {f"{i}": Image.new("RGB", (160, 120)) for i in range(8)})
    held_out = _write(tmp_path / "held-out", _shapes(seed=2, count=27))
    cache = tmp_path / "cache"

    status, out, err = _quantize("demo", calibration, held_out, cache)

    assert status == 1
    assert out == ""
    assert "INT8 model refused (nothing written): top-1 agreement with fp32:" in err
    assert not [path for path in cache.iterdir() if "int8" in path.name]


@pytest.fixture(scope="module")
def served_int8(quantized_demo: tuple[int, str, str], cache: Path) -> Iterator[TestClient]:
    assert quantized_demo[0] == 0, quantized_demo[2]
    model = ModelSettings(manifest=DEMO_MANIFEST, backend="openvino", precision="int8", cache_dir=cache)
    with TestClient(create_embedded_app(create_container(Settings(mode="embedded", model=model)))) as client:
        yield client


@pytest.mark.parametrize("label", ["red circle", "green square", "blue triangle"])
def test_the_served_int8_demo_model_classifies_a_drawn_shape(served_int8: TestClient, label: str) -> None:
    image = io.BytesIO()
    draw(label, random.Random(11), size=(160, 120)).save(image, "PNG")

    submitted = served_int8.post(SUBMIT, files={"image": ("shape.png", image.getvalue(), "image/png")})
    assert submitted.status_code == 202, submitted.text
    body = served_int8.get(submitted.headers["location"], params={"wait": 30}).json()

    assert body["status"] == "succeeded", body
    assert body["result"]["top_k"][0]["label"] == label


def test_a_worker_asked_for_int8_without_an_int8_model_says_to_run_inference_quantize(
    tmp_path: Path,
) -> None:
    from entrypoints.model_loading import load_model

    model = ModelSettings(manifest=DEMO_MANIFEST, backend="openvino", precision="int8", cache_dir=tmp_path)
    container = create_container(Settings(mode="embedded", model=model))

    with pytest.raises(
        ModelLoadError, match=r"no INT8 model of shapes-demo 1 in .*: run `inference quantize"
    ):
        load_model(container)


def test_the_imagenet_model_in_int8_agrees_with_fp32_on_99_percent_of_held_out_photos(
    tmp_path: Path, cache: Path
) -> None:
    import skimage.data

    from adapters.images import crops_and_mirrors

    samples = Path(skimage.data.__file__).parent
    photos = sorted(p for p in samples.iterdir() if p.suffix in (".png", ".jpg") and "GRAY" not in p.name)
    calibration, held_out = tmp_path / "calibration", tmp_path / "held-out"
    calibration.mkdir()
    held_out.mkdir()
    for path in photos:
        folder = held_out if path.name in ACCEPTABLE else calibration
        data = path.read_bytes()
        (folder / path.name).write_bytes(data)
        for index, variant in enumerate(crops_and_mirrors(data)):
            (folder / f"{path.stem} {index}.png").write_bytes(variant)
    assert len(list(held_out.iterdir())) == 6 * len(ACCEPTABLE) and photo("chelsea.png").is_file()

    status, out, err = _quantize("imagenet", calibration, held_out, cache)

    if overflow_fix() == "enable":
        # No VNNI (an AMD EPYC with AVX2 only): the best choice, with the overflow fix, agreed on
        # 96.7 %, under the default 99 %, and the command refuses it, writing nothing.
        assert status == 1, err
        assert re.search(r"INT8 model refused \(nothing written\): top-1 agreement with fp32: [\d.]+%", err)
        return
    assert status == 0, err
    report = json.loads((Path(out.strip()) / "quantization.json").read_text())
    assert report["held_out_images"] == 6 * len(ACCEPTABLE)
    assert report["top1_agreement"] >= 0.99, report
    # With its depthwise convolutions in int8 it agrees on about 77 %: the second choice is kept.
    assert (report["graph"], report["fp32_layers"]) == ("converted", ["GroupConvolution"]), report


class CountingQueue:
    """An infer queue that counts the requests a batch became."""

    def __init__(self, queue: object) -> None:
        self._queue, self.started = queue, 0

    def start_async(self, *args: object, **kwargs: object) -> None:
        self.started += 1
        self._queue.start_async(*args, **kwargs)  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return len(self._queue)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> object:
        return getattr(self._queue, name)


def test_an_int8_batch_runs_in_chunks_over_the_streams_and_agrees_with_one_image_at_a_time(
    quantized_demo: tuple[int, str, str], cache: Path
) -> None:
    import numpy as np

    model = ModelSettings(manifest=DEMO_MANIFEST, backend="openvino", precision="int8", cache_dir=cache)
    container = create_container(Settings(mode="embedded", model=model))
    classifier = container.classifier()
    size = container.manifest().input_size
    pixels = np.random.default_rng(5).standard_normal((8, 3, size, size)).astype(np.float32)
    batch = CountingQueue(classifier._batch)
    classifier._batch = batch

    together = classifier.probabilities(pixels)
    alone = np.concatenate([classifier.probabilities(pixels[i : i + 1]) for i in range(8)])

    # int8 gains from several images per request (one thread, EfficientNet-B0: 8.2 ms per image
    # alone, 7.3 in fours), where fp32 does not: its batches go one image per request.
    assert batch.started < 8
    assert (together.argmax(axis=1) == alone.argmax(axis=1)).all()
    np.testing.assert_allclose(together, alone, atol=1e-4)


@pytest.mark.parametrize(
    ("flags", "fix"),
    [
        ({"avx2", "avx512f", "avx512_vnni"}, "disable"),
        ({"avx2", "avx_vnni"}, "disable"),
        ({"avx2", "amx_int8", "amx_tile"}, "disable"),
        ({"avx2", "fma"}, "enable"),  # AVX2 alone: 16-bit sums that saturate
        ({"avx2", "avx512f", "avx512bw"}, "enable"),  # AVX-512 without VNNI: the same
    ],
)
def test_the_overflow_fix_is_on_exactly_where_the_cpu_lacks_vnni(flags: set[str], fix: str) -> None:
    assert overflow_fix(frozenset(flags)) == fix
