"""Decoding one image and a batch: orientation, pixel modes, and a batch's failures kept apart.

Agreement with timm's reference transform is in test_timm_reference_transforms.py.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from adapters.images.decoding import BatchDecoder, Preprocessing, decode
from inference.errors import ImageTooLarge, InvalidImage
from tests.images import LIMITS, encode, shape, truncated_jpeg

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
SPEC = Preprocessing(64, 73, "bicubic", MEAN, STD)
IDENTITY = Preprocessing(32, 32, "bilinear", (0, 0, 0), (1, 1, 1))


def test_the_exif_orientation_is_applied() -> None:
    wide = Image.new("RGB", (80, 40), (255, 0, 0))
    wide.paste((0, 0, 255), (0, 0, 40, 40))  # blue left half, red right half
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display: blue ends on top
    data = encode(wide, "JPEG", exif=exif, quality=95)

    pixels = decode(data, IDENTITY, LIMITS)

    top, bottom = pixels[:, 4, 16], pixels[:, 28, 16]
    assert top[2] > 0.8 and top[0] < 0.2  # blue
    assert bottom[0] > 0.8 and bottom[2] < 0.2  # red


def test_the_exif_orientation_is_applied_to_a_jpeg_decoded_in_draft_mode() -> None:
    wide = Image.new("RGB", (1600, 800), (255, 0, 0))
    wide.paste((0, 0, 255), (0, 0, 800, 800))
    exif = Image.Exif()
    exif[0x0112] = 6

    pixels = decode(encode(wide, "JPEG", exif=exif, quality=95), IDENTITY, LIMITS)

    assert pixels[2, 4, 16] > 0.8 and pixels[0, 28, 16] > 0.8  # blue on top, red below


def test_transparent_pixels_are_composited_on_white() -> None:
    pixels = decode(encode(Image.new("RGBA", (20, 20), (255, 0, 0, 0)), "PNG"), IDENTITY, LIMITS)

    assert pixels.min() > 0.99


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "I;16", "1", "LA"])
def test_every_common_pixel_mode_decodes_to_three_channels(mode: str) -> None:
    image = shape(size=(40, 30), seed=3).convert(mode)

    pixels = decode(encode(image, "TIFF" if mode in ("CMYK", "I;16") else "PNG"), SPEC, LIMITS)

    assert pixels.shape == (3, 64, 64)
    assert np.isfinite(pixels).all()


@pytest.mark.parametrize("size", [(1, 4000), (4000, 1), (3, 1000)])
def test_a_strip_decodes_without_resizing_all_of_it(size: tuple[int, int]) -> None:
    pixels = decode(encode(Image.new("RGB", size, (0, 255, 0)), "PNG"), IDENTITY, LIMITS)

    assert pixels.shape == (3, 32, 32)
    assert np.allclose(pixels[1], 1.0) and np.allclose(pixels[0], 0.0)


@pytest.mark.parametrize("data", [b"", b"not an image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40])
def test_bytes_that_are_not_an_image_raise_invalid_image(data: bytes) -> None:
    with pytest.raises(InvalidImage):
        decode(data, SPEC, LIMITS)


def test_a_crop_larger_than_the_resize_is_refused() -> None:
    with pytest.raises(ValueError, match="input_size"):
        Preprocessing(64, 60, "bilinear", MEAN, STD)


def _photos(count: int) -> list[bytes]:
    sizes = [(640, 480), (480, 640), (1280, 720), (97, 300), (200, 200)]
    return [encode(shape(size=sizes[i % len(sizes)], seed=i), "JPEG", quality=90) for i in range(count)]


def test_a_batch_decodes_to_one_contiguous_array_equal_to_decoding_each_image() -> None:
    images = _photos(5)
    with BatchDecoder(SPEC, limits=LIMITS, threads=1) as decoder:
        pixels, errors = decoder.decode(images)

    assert errors == [None] * 5
    assert pixels.shape == (5, 3, 64, 64) and pixels.dtype == np.float32 and pixels.flags.c_contiguous
    assert np.array_equal(pixels, np.stack([decode(data, SPEC, LIMITS) for data in images]))


def test_one_thread_and_four_threads_decode_identical_arrays() -> None:
    images = _photos(9)
    with (
        BatchDecoder(SPEC, limits=LIMITS, threads=1) as inline,
        BatchDecoder(SPEC, limits=LIMITS, threads=4) as pooled,
    ):
        one, _ = inline.decode(images)
        four, _ = pooled.decode(images)
        again, _ = pooled.decode(images[::-1])  # the pool serves batch after batch

    assert np.array_equal(one, four)
    assert np.array_equal(again, one[::-1])


@pytest.mark.parametrize("threads", [1, 3])
def test_a_corrupt_image_in_the_middle_of_a_batch_fails_alone(threads: int) -> None:
    good = _photos(4)
    images = [good[0], good[1], truncated_jpeg(), good[2], b"not an image", good[3]]

    with BatchDecoder(SPEC, limits=LIMITS, threads=threads) as decoder:
        pixels, errors = decoder.decode(images)

    assert [error is None for error in errors] == [True, True, False, True, False, True]
    assert isinstance(errors[2], InvalidImage) and isinstance(errors[4], InvalidImage)
    assert pixels.shape == (4, 3, 64, 64) and pixels.flags.c_contiguous
    assert np.array_equal(pixels, np.stack([decode(data, SPEC, LIMITS) for data in good]))


def test_an_image_over_the_pixel_limit_fails_alone_in_its_batch() -> None:
    small, large = encode(shape(size=(40, 30)), "PNG"), encode(shape(size=(100, 100)), "PNG")

    with BatchDecoder(SPEC, limits=replace(LIMITS, max_pixels=5000), threads=2) as decoder:
        pixels, errors = decoder.decode([large, small])

    assert isinstance(errors[0], ImageTooLarge) and errors[1] is None
    assert pixels.shape == (1, 3, 64, 64)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_batch_of_nothing_or_only_failures_is_an_empty_array(threads: int) -> None:
    with BatchDecoder(SPEC, limits=LIMITS, threads=threads) as decoder:
        empty, no_errors = decoder.decode([])
        failed, errors = decoder.decode([b"junk", b"more junk"])

    assert empty.shape == failed.shape == (0, 3, 64, 64)
    assert no_errors == [] and all(isinstance(error, InvalidImage) for error in errors)


def test_a_batch_decoder_needs_at_least_one_thread() -> None:
    with pytest.raises(ValueError, match="threads"):
        BatchDecoder(SPEC, limits=LIMITS, threads=0)


def test_a_closed_pool_refuses_work_rather_than_hang() -> None:
    decoder = BatchDecoder(SPEC, limits=LIMITS, threads=2)
    decoder.close()

    with pytest.raises(RuntimeError):
        decoder.decode(_photos(2))
