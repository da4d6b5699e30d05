"""Our decoding against timm's reference eval transform, image by image.

The reference is `create_transform(**resolve_data_config(...), is_training=False)` applied to the
fully decoded, EXIF-rotated image: resize the shorter side, centre crop, ToTensor, Normalize.
Differences are in normalised units, where one 8-bit level is 1 / (255 x std). The photos are
demo.shapes drawings (gradients, shapes, blur) with sensor-like noise added. Each tolerance is
about twice the worst difference seen when it was set:

- Plain path (everything but a JPEG at least twice the resize size): bit-identical except where a
  resampled value lies within float rounding of a level boundary, because resampling only the
  region the crop keeps computes the same filter taps from float32 box coordinates. So nearly
  every value matches and the few others move by a level or two. Normalisation is exact: its
  lookup tables repeat torchvision's float32 arithmetic, as an image that needs no resampling
  shows.
- Draft mode (a large JPEG): libjpeg's reduced-scale decode is a different low-pass filter from
  the reference's full decode + resample, so values differ by a few levels, most on sharp edges:
  less than saving the photo as a JPEG moved them in the first place. Loosest when the reduced
  image lands exactly on the resize size and no filter is left to smooth it.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageOps
from timm.data.config import resolve_data_config
from timm.data.transforms_factory import create_transform

from adapters.images.decoding import BatchDecoder, Preprocessing, decode
from tests.images import LIMITS, encode, shape

pytestmark = pytest.mark.slow  # imports torch

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
LEVEL = 1 / (255 * min(STD))

# About twice the worst measured on each path (see the module's docstring).
PLAIN = {"mean": 0.0005, "p99": 1e-6, "changed": 0.015, "max": 2 * LEVEL + 1e-4}
DRAFT = {"mean": 0.03, "p99": 0.12}
DRAFT_EXACT_FIT = {"mean": 0.06, "p99": 0.35}

# timm leaves resolve_data_config unannotated; this is the part of its signature we use.
_resolve_data_config = cast(Callable[[dict[str, object]], dict[str, Any]], resolve_data_config)


@dataclass(frozen=True)
class Difference:
    mean: float
    p99: float
    max: float
    changed: float  # the fraction of values that differ at all

    @classmethod
    def between(cls, ours: npt.NDArray[np.float32], reference: npt.NDArray[np.float32]) -> Difference:
        assert ours.shape == reference.shape
        gap = np.abs(ours - reference)
        return cls(
            float(gap.mean()), float(np.percentile(gap, 99)), float(gap.max()), float((gap > 1e-6).mean())
        )

    def within(self, tolerance: dict[str, float]) -> bool:
        return all(getattr(self, name) <= limit for name, limit in tolerance.items())


def _spec(input_size: int, interpolation: str, crop_pct: float = 0.875) -> Preprocessing:
    return Preprocessing(input_size, int(input_size / crop_pct), interpolation, MEAN, STD)


def _reference(data: bytes, spec: Preprocessing) -> npt.NDArray[np.float32]:
    config = _resolve_data_config(
        {
            "input_size": (3, spec.input_size, spec.input_size),
            "interpolation": spec.interpolation,
            "crop_pct": spec.input_size / spec.resize_size,
            "mean": MEAN,
            "std": STD,
        }
    )
    assert config["crop_pct"] and int(spec.input_size / config["crop_pct"]) == spec.resize_size
    transform = create_transform(**config, is_training=False)
    with Image.open(io.BytesIO(data)) as image:
        upright = ImageOps.exif_transpose(image).convert("RGB")  # full decode: no draft
    pixels: npt.NDArray[np.float32] = transform(upright).numpy()
    return pixels


def _photo(size: tuple[int, int], fmt: str, seed: int = 1, **options: object) -> bytes:
    """A drawing with sensor-like noise: on smooth pixels, rounding differences would hide."""
    pixels = np.asarray(shape("green triangle", size=size, seed=seed), dtype=np.float32)
    pixels += np.random.default_rng(seed).normal(0.0, 4.0, pixels.shape).astype(np.float32)
    noisy = Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8), "RGB")
    return encode(noisy, fmt, **options)


PLAIN_CASES = [
    ((640, 480), "JPEG"),  # too small for draft mode at 365
    ((480, 640), "JPEG"),
    ((729, 1000), "JPEG"),  # one pixel short of draft mode
    ((1920, 1080), "PNG"),
    ((1080, 1920), "PNG"),  # Pillow would resample this box vertically first, the whole resize not
    ((500, 1200), "PNG"),  # taller than 2:1: the whole resize runs its vertical pass first
    ((730, 1300), "PNG"),
    ((200, 120), "PNG"),  # smaller than the target: upscaled
    ((97, 300), "PNG"),
    ((31, 45), "PNG"),
]


@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear"])
@pytest.mark.parametrize(("size", "fmt"), PLAIN_CASES)
def test_the_plain_path_matches_timm_to_a_level_at_a_few_values(
    size: tuple[int, int], fmt: str, interpolation: str
) -> None:
    data = _photo(size, fmt, quality=90) if fmt == "JPEG" else _photo(size, fmt)
    spec = _spec(320, interpolation)

    difference = Difference.between(decode(data, spec, LIMITS), _reference(data, spec))

    assert difference.within(PLAIN), difference


def test_the_plain_path_matches_timm_at_224_pixels_too() -> None:
    data = _photo((500, 375), "PNG")
    spec = _spec(224, "bilinear")

    assert Difference.between(decode(data, spec, LIMITS), _reference(data, spec)).within(PLAIN)


def test_an_image_that_needs_no_resampling_is_bit_identical_to_timm() -> None:
    # 365 x 500 is already 365 on its shorter side: only the crop and the normalisation remain.
    data = _photo((365, 500), "PNG")
    spec = _spec(320, "bicubic")

    assert np.array_equal(decode(data, spec, LIMITS), _reference(data, spec))


DRAFT_CASES = [(1920, 1080), (1080, 1920), (4000, 3000), (1280, 960)]


@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear"])
@pytest.mark.parametrize("size", DRAFT_CASES)
def test_a_large_jpeg_decoded_in_draft_mode_stays_close_to_timm_on_the_full_decode(
    size: tuple[int, int], interpolation: str
) -> None:
    data = _photo(size, "JPEG", quality=90)
    spec = _spec(320, interpolation)

    difference = Difference.between(decode(data, spec, LIMITS), _reference(data, spec))

    assert difference.within(DRAFT), difference


def test_a_jpeg_reduced_exactly_to_the_resize_size_is_the_loosest_case() -> None:
    data = _photo((730, 1300), "JPEG", quality=90)  # draft at 1/2 gives 365 x 650: nothing to resample
    spec = _spec(320, "bilinear")

    difference = Difference.between(decode(data, spec, LIMITS), _reference(data, spec))

    assert difference.within(DRAFT_EXACT_FIT), difference


def test_an_exif_rotated_jpeg_in_draft_mode_stays_close_to_timm_on_the_upright_image() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 1920 x 1080, displayed 1080 x 1920
    data = _photo((1920, 1080), "JPEG", quality=90, exif=exif)
    spec = _spec(320, "bicubic")

    ours, reference = decode(data, spec, LIMITS), _reference(data, spec)

    assert Difference.between(ours, reference).within(DRAFT)
    sideways = _reference(_photo((1920, 1080), "JPEG", quality=90), spec)
    assert not Difference.between(ours, sideways).within(DRAFT)


def test_draft_mode_is_the_only_loose_step_and_moves_less_than_jpeg_compression() -> None:
    lossless = _photo((1920, 1080), "PNG", seed=2)
    jpeg = _photo((1920, 1080), "JPEG", seed=2, quality=90)
    with Image.open(io.BytesIO(jpeg)) as image:
        full_decode = encode(image.convert("RGB"), "PNG")  # the reference's pixels, losslessly
    spec = _spec(320, "bicubic")
    reference = _reference(jpeg, spec)

    drafted = Difference.between(decode(jpeg, spec, LIMITS), reference)
    plain = Difference.between(decode(full_decode, spec, LIMITS), reference)
    compression = Difference.between(reference, _reference(lossless, spec))

    assert drafted.within(DRAFT) and plain.within(PLAIN)
    assert plain.mean * 20 < drafted.mean < compression.mean, (plain, drafted, compression)


def test_a_threaded_batch_matches_timm_image_by_image() -> None:
    images = [
        _photo((1920, 1080), "JPEG", seed=2, quality=90),
        _photo((640, 480), "JPEG", seed=3, quality=90),
        _photo((97, 300), "PNG", seed=4),
        _photo((1080, 1920), "JPEG", seed=5, quality=90),
    ]
    spec = _spec(320, "bicubic")

    with BatchDecoder(spec, limits=LIMITS, threads=2) as decoder:
        pixels, errors = decoder.decode(images)

    assert errors == [None] * 4
    for row, data, tolerance in zip(pixels, images, [DRAFT, PLAIN, PLAIN, DRAFT], strict=True):
        assert Difference.between(row, _reference(data, spec)).within(tolerance)
