"""Encoded image → normalised float32 CHW array, exactly as timm's eval transform does it.

resize the shorter side to floor(input_size / crop_pct) → centre crop → scale to [0, 1] →
normalise. Pillow and numpy only, so every model backend can share it.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps
from PIL.JpegImagePlugin import JpegImageFile

# Transparent pixels are composited on white, what most viewers show behind them.
BACKGROUND = (255, 255, 255)

_RESAMPLING = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


class UndecodableImage(ValueError):
    """The bytes do not decode to an image."""


@dataclass(frozen=True)
class Preprocessing:
    input_size: int
    resize_size: int
    interpolation: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


def decode(data: bytes, spec: Preprocessing) -> npt.NDArray[np.float32]:
    """A (3, input_size, input_size) array; raises UndecodableImage for bad bytes."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data))
            if isinstance(image, JpegImageFile):
                # Let libjpeg decode at a reduced scale (DCT scaling) when the image is far
                # bigger than needed: about twice as fast on a photo, never below the target.
                image.draft("RGB", (spec.resize_size, spec.resize_size))
            image = _to_rgb(ImageOps.exif_transpose(image))
            image = _resize_shorter_side(image, spec.resize_size, _RESAMPLING[spec.interpolation])
            image = _centre_crop(image, spec.input_size)
            pixels = np.asarray(image, dtype=np.float32)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, EOFError) as exc:
        raise UndecodableImage(f"cannot decode the image: {exc}") from exc
    pixels *= 1.0 / 255.0
    pixels -= np.asarray(spec.mean, dtype=np.float32)
    pixels /= np.asarray(spec.std, dtype=np.float32)
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit greyscale: Pillow's "L" conversion clips instead of scaling.
        wide = np.asarray(image, dtype=np.float64)
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


def _resize_shorter_side(image: Image.Image, size: int, resample: Image.Resampling) -> Image.Image:
    width, height = image.size
    new_size = (size, int(size * height / width)) if width <= height else (int(size * width / height), size)
    if new_size == image.size:
        return image
    return image.resize(new_size, resample)


def _centre_crop(image: Image.Image, size: int) -> Image.Image:
    width, height = image.size
    left = round((width - size) / 2.0)
    top = round((height - size) / 2.0)
    return image.crop((left, top, left + size, top + size))
