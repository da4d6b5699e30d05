"""The worker's decoding of hostile images: refused by the header, failed fast, never half-decoded."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, ImageFile

from adapters.images.decoding import Preprocessing, decode
from inference.errors import ImageTooLarge, InvalidImage
from tests.images import LIMITS, encode, png_header_claiming, png_with_broken_data, truncated_jpeg

IDENTITY = Preprocessing(32, 36, "bilinear", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))


def test_pillow_never_loads_truncated_images_once_the_adapters_are_imported() -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_a_truncated_jpeg_is_an_invalid_image_not_a_half_grey_picture() -> None:
    with pytest.raises(InvalidImage, match="truncated"):
        decode(truncated_jpeg(), IDENTITY, LIMITS)


def test_a_png_with_a_valid_header_and_corrupt_data_is_an_invalid_image() -> None:
    with pytest.raises(InvalidImage):
        decode(png_with_broken_data(b"\x78\x9c definitely not deflate", 64, 64), IDENTITY, LIMITS)


def test_an_image_over_the_pixel_limit_is_refused_by_its_header_before_any_decoding() -> None:
    # The data is broken: had it been decoded, the error would be InvalidImage, not ImageTooLarge.
    with pytest.raises(ImageTooLarge, match="8,000×6,000"):
        decode(png_header_claiming(8000, 6000), IDENTITY, replace(LIMITS, max_pixels=40_000_000))


def test_the_pixel_limit_is_per_call_and_leaves_pillows_global_limit_alone() -> None:
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageTooLarge):
        decode(encode(Image.new("RGB", (40, 40)), "PNG"), IDENTITY, replace(LIMITS, max_pixels=1000))

    assert decode(
        encode(Image.new("RGB", (40, 40)), "PNG"), IDENTITY, replace(LIMITS, max_pixels=1600)
    ).shape == (3, 32, 32)
    assert before == Image.MAX_IMAGE_PIXELS


def test_only_the_first_frame_of_an_animation_is_decoded() -> None:
    red, blue = Image.new("RGB", (40, 40), (255, 0, 0)), Image.new("RGB", (40, 40), (0, 0, 255))
    for fmt in ("GIF", "PNG", "WEBP"):
        pixels = decode(encode(red, fmt, save_all=True, append_images=[blue]), IDENTITY, LIMITS)

        assert pixels[0].mean() > 0.9 and pixels[2].mean() < 0.1, fmt


def test_an_animation_whose_later_frames_are_broken_still_decodes_its_first() -> None:
    data = encode(Image.new("RGB", (40, 40), (255, 0, 0)), "GIF", save_all=True,
                  append_images=[Image.new("RGB", (40, 40), (0, 0, 255))])  # fmt: skip
    broken = data[: len(data) - 20] + b"\x00" * 20

    assert decode(broken, IDENTITY, LIMITS)[0].mean() > 0.9


@pytest.mark.parametrize("size", [(1, 4000), (4000, 1), (20, 400), (1, 1)])
def test_an_extreme_aspect_ratio_decodes_to_the_model_input_like_a_full_resize(size: tuple[int, int]) -> None:
    rng = np.random.default_rng(size[0])
    image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    width, height = size
    resized = (36, int(36 * height / width)) if width <= height else (int(36 * width / height), 36)
    left, top = round((resized[0] - 32) / 2.0), round((resized[1] - 32) / 2.0)
    reference = image.resize(resized, Image.Resampling.BILINEAR).crop((left, top, left + 32, top + 32))

    pixels = decode(encode(image, "PNG"), IDENTITY, LIMITS)

    expected = np.asarray(reference, dtype=np.float32).transpose(2, 0, 1) / 255.0
    assert np.abs(pixels - expected).max() <= 2.5 / 255  # a level or two at a few pixels at most
