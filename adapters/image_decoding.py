"""Encoded image → normalised float32 CHW array, exactly as timm's eval transform does it.

resize the shorter side to floor(input_size / crop_pct) → centre crop → scale to [0, 1] →
normalise. Pillow and numpy only, so every model backend can share it.

Only the first frame of an animation is decoded; the EXIF orientation is applied; greyscale,
palette, CMYK and 16-bit images become RGB; transparent pixels are composited on white.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps
from PIL.JpegImagePlugin import JpegImageFile

from adapters.pillow_images import open_image
from inference.errors import InvalidImage
from inference.media import check_pixels

# Transparent pixels are composited on white, what most viewers show behind them.
BACKGROUND = (255, 255, 255)

# Past this ratio of long to short side, only the cropped region is resized (see _resize_and_crop).
_MAX_ASPECT_RATIO = 8

# The API's default limit (INFERENCE_API__MAX_PIXELS), well under Pillow's bomb threshold (89 MP).
DEFAULT_MAX_PIXELS = 40_000_000

_RESAMPLING = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


@dataclass(frozen=True)
class Preprocessing:
    input_size: int
    resize_size: int
    interpolation: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


def decode(data: bytes, spec: Preprocessing, max_pixels: int = DEFAULT_MAX_PIXELS) -> npt.NDArray[np.float32]:
    """A (3, input_size, input_size) array of the first frame.

    Raises ImageTooLarge past `max_pixels` (checked on the header, before decoding) and
    InvalidImage for bytes that do not decode, truncated ones included.
    """
    with open_image(data) as (image, _):
        check_pixels(image.width, image.height, max_pixels)
        if isinstance(image, JpegImageFile):
            # Let libjpeg decode at a reduced scale (DCT scaling) when the image is far
            # bigger than needed: about twice as fast on a photo, never below the target.
            image.draft("RGB", (spec.resize_size, spec.resize_size))
        rgb = _to_rgb(ImageOps.exif_transpose(image))
        pixels = np.asarray(_resize_and_crop(rgb, spec), dtype=np.float32)
    pixels *= 1.0 / 255.0
    pixels -= np.asarray(spec.mean, dtype=np.float32)
    pixels /= np.asarray(spec.std, dtype=np.float32)
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit greyscale: Pillow's "L" conversion clips instead of scaling.
        wide = np.asarray(image, dtype=np.float32)
        peak = 65535.0 if wide.max(initial=0) > 255 else 255.0
        image = Image.fromarray((wide * (255.0 / peak)).clip(0, 255).astype(np.uint8), "L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, BACKGROUND)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")


def _resize_and_crop(image: Image.Image, spec: Preprocessing) -> Image.Image:
    """The centre crop of the image resized to `resize_size` on its shorter side."""
    width, height = image.size
    size, crop = spec.resize_size, spec.input_size
    resized = (size, int(size * height / width)) if width <= height else (int(size * width / height), size)
    left, top = round((resized[0] - crop) / 2.0), round((resized[1] - crop) / 2.0)
    if resized == image.size:
        return image.crop((left, top, left + crop, top + crop))
    resample = _RESAMPLING[spec.interpolation]
    if max(resized) <= _MAX_ASPECT_RATIO * size:
        return image.resize(resized, resample).crop((left, top, left + crop, top + crop))
    # A strip (1 x 4,000 would become 73 x 292,000): resize only the region the crop keeps.
    # Pillow's `box` samples on the same grid; rounding differs by a level at a few pixels.
    x_scale, y_scale = width / resized[0], height / resized[1]
    box = (left * x_scale, top * y_scale, (left + crop) * x_scale, (top + crop) * y_scale)
    return image.resize((crop, crop), resample, box=box)


class BatchDecoder:
    """Decodes a batch of encoded images into one (n, 3, size, size) float32 array.

    Shared by every model backend. Images that fail yield their InvalidImage (ImageTooLarge
    included) in place; the rest of the batch is unaffected.
    """

    def __init__(self, spec: Preprocessing, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self._spec = spec
        self._max_pixels = max_pixels

    def decode(self, images: Sequence[bytes]) -> tuple[npt.NDArray[np.float32], list[InvalidImage | None]]:
        """The array of the images that decoded, in order, and per input image its error or None."""
        size = self._spec.input_size
        pixels: list[npt.NDArray[np.float32]] = []
        errors: list[InvalidImage | None] = []
        for data in images:
            try:
                pixels.append(decode(data, self._spec, self._max_pixels))
                errors.append(None)
            except InvalidImage as exc:
                errors.append(exc)
        if not pixels:
            return np.empty((0, 3, size, size), dtype=np.float32), errors
        return np.stack(pixels), errors

    def close(self) -> None:
        """Release the decoder's threads, if it has any."""
