"""Our decoding must feed the model exactly what timm's reference eval transform would."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from timm.data import create_transform  # type: ignore[attr-defined]

from adapters.image_decoding import Preprocessing, decode
from inference.errors import InvalidImage

pytestmark = pytest.mark.slow

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def _image(size: tuple[int, int], seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)  # smooth content, like a photo
    return Image.fromarray(small).resize(size, Image.Resampling.BILINEAR)


@pytest.mark.parametrize("size", [(200, 120), (97, 300), (64, 64), (31, 45)])
@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_decoding_a_png_matches_timms_eval_transform(size: tuple[int, int], interpolation: str) -> None:
    image = _image(size, seed=size[0])
    data = io.BytesIO()
    image.save(data, "PNG")
    reference = create_transform(
        input_size=(3, 64, 64), interpolation=interpolation, crop_pct=0.875, mean=MEAN, std=STD
    )(image).numpy()
    spec = Preprocessing(64, int(64 / 0.875), interpolation, MEAN, STD)

    ours = decode(data.getvalue(), spec)

    assert ours.shape == reference.shape == (3, 64, 64)
    assert np.abs(ours - reference).max() < 1e-4


def test_a_large_jpeg_decoded_in_draft_mode_stays_close_to_the_full_decode() -> None:
    image = _image((1920, 1080), seed=9)
    data = io.BytesIO()
    image.save(data, "JPEG", quality=95)
    reference = create_transform(input_size=(3, 64, 64), crop_pct=0.875, mean=MEAN, std=STD)(
        Image.open(io.BytesIO(data.getvalue())).convert("RGB")
    ).numpy()

    ours = decode(data.getvalue(), Preprocessing(64, 73, "bilinear", MEAN, STD))

    # Draft mode lets libjpeg scale by 1/8 before our resize: close, not bit-identical.
    assert np.abs(ours - reference).mean() < 0.05


def test_the_exif_orientation_is_applied() -> None:
    wide = Image.new("RGB", (80, 40), (255, 0, 0))
    wide.paste((0, 0, 255), (0, 0, 40, 40))  # blue left half, red right half
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display: blue ends on top
    data = io.BytesIO()
    wide.save(data, "JPEG", exif=exif, quality=95)

    pixels = decode(data.getvalue(), Preprocessing(32, 32, "bilinear", (0, 0, 0), (1, 1, 1)))

    top, bottom = pixels[:, 4, 16], pixels[:, 28, 16]
    assert top[2] > 0.8 and top[0] < 0.2  # blue
    assert bottom[0] > 0.8 and bottom[2] < 0.2  # red


def test_transparent_pixels_are_composited_on_white() -> None:
    data = io.BytesIO()
    Image.new("RGBA", (20, 20), (255, 0, 0, 0)).save(data, "PNG")

    pixels = decode(data.getvalue(), Preprocessing(16, 16, "bilinear", (0, 0, 0), (1, 1, 1)))

    assert pixels.min() > 0.99


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "I;16", "1", "LA"])
def test_every_common_pixel_mode_decodes_to_three_channels(mode: str) -> None:
    image = _image((40, 30), seed=3).convert(mode)
    data = io.BytesIO()
    image.save(data, "TIFF" if mode in ("CMYK", "I;16") else "PNG")

    pixels = decode(data.getvalue(), Preprocessing(16, 16, "bilinear", MEAN, STD))

    assert pixels.shape == (3, 16, 16)
    assert np.isfinite(pixels).all()


@pytest.mark.parametrize("data", [b"", b"not an image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40])
def test_bytes_that_are_not_an_image_raise_invalid_image(data: bytes) -> None:
    with pytest.raises(InvalidImage):
        decode(data, Preprocessing(16, 16, "bilinear", MEAN, STD))
