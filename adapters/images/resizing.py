"""timm's resize of the shorter side and centre crop, done as one resample of the region kept."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from PIL import Image

if TYPE_CHECKING:
    from adapters.images.decoding import Preprocessing

_RESAMPLING = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}
# Each filter's radius at scale 1, in source pixels (Pillow's libImaging/Resample.c).
_SUPPORT = {"nearest": 0.5, "bilinear": 1.0, "bicubic": 2.0, "lanczos": 3.0}


def resize_and_crop(image: Image.Image, spec: Preprocessing) -> Image.Image:
    """The centre crop of the image resized to `resize_size` on its shorter side."""
    width, height = image.size
    size, crop = spec.resize_size, spec.input_size
    # torchvision's sizes and offsets: the longer side truncated, the crop's offset rounded.
    resized = (size, int(size * height / width)) if width <= height else (int(size * width / height), size)
    left, top = round((resized[0] - crop) / 2.0), round((resized[1] - crop) / 2.0)
    if resized == image.size:
        return image.crop((left, top, left + crop, top + crop))
    # Resample only the region the crop keeps, straight to the crop size, with Pillow's `box`: the
    # same sampling grid as the whole resize, for half its work on a 16:9 photo, and a strip
    # (1 x 4,000) never becomes a 365 x 1,460,000 intermediate.
    x_scale, y_scale = width / resized[0], height / resized[1]
    box = (left * x_scale, top * y_scale, (left + crop) * x_scale, (top + crop) * y_scale)
    region, box = _reachable_region(image, box, crop, _SUPPORT[spec.interpolation])
    resample = _RESAMPLING[spec.interpolation]
    if resample == Image.Resampling.NEAREST:  # one pass, nothing rounded in between
        return region.resize((crop, crop), resample, box=box)
    # Each of Pillow's two passes rounds to 8 bits, so their order shows (a level at a fifth of the
    # values). Pillow 13 runs the vertical pass first when the height shrinks more than twice as
    # much as the width; on the box it would decide from other sizes, so follow the whole resize.
    x0, y0, x1, y1 = box
    if height - resized[1] > max(0, 2 * (width - resized[0])):
        short = region.resize((region.width, crop), resample, box=(0, y0, region.width, y1))
        return short.resize((crop, crop), resample, box=(x0, 0, x1, crop))
    narrow = region.resize((crop, region.height), resample, box=(x0, 0, x1, region.height))
    return narrow.resize((crop, crop), resample, box=(0, y0, crop, y1))


def _reachable_region(
    image: Image.Image, box: tuple[float, float, float, float], crop: int, support: float
) -> tuple[Image.Image, tuple[float, float, float, float]]:
    """The part of the image a resample of `box` to crop x crop reads, and the box within it.

    Pillow takes a box in float32: relative to a small region it stays exact to a thousandth of
    a pixel, where a 40,000,000-pixel strip would lose half a pixel.
    """
    x0, y0, x1, y1 = box
    left, right = _reach(x0, x1, crop, image.width, support)
    top, bottom = _reach(y0, y1, crop, image.height, support)
    if (left, top, right, bottom) != (0, 0, *image.size):
        image = image.crop((left, top, right, bottom))
    # min(): float rounding must not step past the edge, which Pillow refuses.
    return image, (x0 - left, y0 - top, min(x1 - left, image.width), min(y1 - top, image.height))


def _reach(start: float, end: float, out_size: int, limit: int, support: float) -> tuple[int, int]:
    """The pixels a resample of [start, end) to `out_size` reads: all within the filter's radius."""
    radius = support * max((end - start) / out_size, 1.0)
    return max(0, math.floor(start - radius)), min(limit, math.ceil(end + radius))
