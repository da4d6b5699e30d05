"""Encoded image → normalised float32 CHW array, as timm's eval transform does it.

resize the shorter side to floor(input_size / crop_pct) → centre crop → scale to [0, 1] →
normalise. Pillow and numpy only, so every model backend can share it.

Only the first frame of an animation is decoded; the EXIF orientation is applied; greyscale,
palette, CMYK and 16-bit images become RGB; transparent pixels are composited on white.

Preprocessing must keep up with the model (on two cores, decoding a 1080p JPEG plainly takes as
long as EfficientNet-B0 takes to classify it), so each step does the least work that stays within
tolerance of timm (tests/adapters/test_timm_reference_transforms.py):
- large JPEGs decode at a reduced scale (libjpeg's DCT scaling), never below the resize size;
- one resample, from the region the centre crop keeps straight to the crop size;
- uint8 → normalised float32 in one lookup pass, written where the batch array wants it.

Memory stays near one decoded image (at most 4 bytes a pixel in Pillow) per thread: greyscale
is resampled before it becomes RGB, and wide greyscale reaches 8 bits a strip at a time.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps
from PIL.JpegImagePlugin import JpegImageFile

from adapters.images.opening import open_image
from adapters.images.structure import check_jpeg_scans, check_png_chunks
from inference.errors import InvalidImage
from inference.media import check_size

# Transparent pixels are composited on white, what most viewers show behind them.
BACKGROUND = (255, 255, 255)

_RESAMPLING = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}
# Each filter's radius at scale 1, in source pixels (Pillow's libImaging/Resample.c).
_SUPPORT = {"nearest": 0.5, "bilinear": 1.0, "bicubic": 2.0, "lanczos": 3.0}
# Pixels of wide greyscale scaled to 8 bits at a time (4 MB as float32).
_STRIP_PIXELS = 1 << 20

Pixels = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Preprocessing:
    input_size: int
    resize_size: int
    interpolation: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __post_init__(self) -> None:
        # timm's crop_pct <= 1: the crop lies inside the resized image, never in padding.
        if not 0 < self.input_size <= self.resize_size:
            raise ValueError(f"need 0 < input_size <= resize_size, got {self.input_size}, {self.resize_size}")


@dataclass(frozen=True)
class DecodeLimits:
    """What the decoder refuses before decoding: the API's limits, for messages published
    around it. Past `max_pixels` or `max_side`, ImageTooLarge; past `max_jpeg_scans` scans of a
    progressive JPEG, InvalidImage."""

    max_pixels: int
    max_side: int
    max_jpeg_scans: int


def decode(data: bytes, spec: Preprocessing, limits: DecodeLimits) -> Pixels:
    """A (3, input_size, input_size) array of the first frame.

    Raises ImageTooLarge or InvalidImage past the `limits` (checked before decoding) and
    InvalidImage for bytes that do not decode, truncated ones included.
    """
    out = np.empty((3, spec.input_size, spec.input_size), dtype=np.float32)
    decode_into(data, spec, out, limits)
    return out


def decode_into(data: bytes, spec: Preprocessing, out: Pixels, limits: DecodeLimits) -> None:
    """`decode`, writing into `out`, a (3, input_size, input_size) float32 array (a batch's row)."""
    with open_image(data) as (image, media_type):
        check_size(image.width, image.height, limits.max_pixels, limits.max_side)
        check_jpeg_scans(data, image, limits.max_jpeg_scans)
        if media_type == "image/png":
            check_png_chunks(data, before_pixels=False)
        if isinstance(image, JpegImageFile):
            # libjpeg decodes at 1/2, 1/4 or 1/8 scale when the image is that much bigger than
            # needed, about twice as fast on a photo. The requested box is square, so whichever
            # way the EXIF orientation turns the image, its shorter side stays >= resize_size.
            image.draft("RGB", (spec.resize_size, spec.resize_size))
        # in_place: the default returns a full copy even when there is nothing to turn.
        ImageOps.exif_transpose(image, in_place=True)
        crop = _resize_and_crop(_to_rgb_or_grey(image), spec)
        pixels = np.asarray(crop if crop.mode == "RGB" else crop.convert("RGB"))
        tables = _lookup_tables(spec.mean, spec.std)
        for channel in range(3):
            # mode="wrap": "raise" buffers the output (numpy's docs), for a check uint8 cannot fail.
            np.take(tables[channel], pixels[:, :, channel], out=out[channel], mode="wrap")


@functools.lru_cache(maxsize=8)
def _lookup_tables(mean: tuple[float, float, float], std: tuple[float, float, float]) -> Pixels:
    """Per channel, the normalised value of each of the 256 levels.

    Computed with torchvision's float32 operations in its order (x / 255 - mean) / std, so the
    values are bit-identical to ToTensor + Normalize on the same pixels.
    """
    levels = np.arange(256, dtype=np.float32) / np.float32(255)
    mean32, std32 = np.asarray(mean, dtype=np.float32), np.asarray(std, dtype=np.float32)
    tables = (levels - mean32[:, np.newaxis]) / std32[:, np.newaxis]
    tables.flags.writeable = False  # shared by every call and thread
    return tables


def _to_rgb_or_grey(image: Image.Image) -> Image.Image:
    """RGB, or L for greyscale: resampled on its one channel, it becomes RGB at the crop's size
    (the same values: each channel is resampled on its own), never as a whole image."""
    if image.mode in ("RGB", "L"):
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        return _wide_grey_to_l(image)
    if image.mode == "F":
        return image.convert("L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, BACKGROUND)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")


def _wide_grey_to_l(image: Image.Image) -> Image.Image:
    """16/32-bit greyscale scaled to 8 bits (Pillow's "L" conversion clips instead of scaling).

    A strip of rows at a time: a float copy of a whole 40 MP image would take 160 MB, and the
    scaling several of them.
    """
    _, high = image.getextrema()
    scale = np.float32(255.0 / (65535.0 if float(high) > 255 else 255.0))  # type: ignore[arg-type]
    grey = np.empty((image.height, image.width), dtype=np.uint8)
    rows = max(1, _STRIP_PIXELS // image.width)
    for top in range(0, image.height, rows):
        strip = image.crop((0, top, image.width, min(top + rows, image.height)))
        wide = np.asarray(strip, dtype=np.float32)
        np.multiply(wide, scale, out=wide)
        np.clip(wide, 0, 255, out=wide)
        grey[top : top + wide.shape[0]] = wide  # truncates, as astype(np.uint8) does
    return Image.fromarray(grey)


def _resize_and_crop(image: Image.Image, spec: Preprocessing) -> Image.Image:
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


class BatchDecoder:
    """Decodes a batch of encoded images into one (n, 3, size, size) float32 array.

    Shared by every model backend. Images that fail yield their InvalidImage (ImageTooLarge
    included) in place; the rest of the batch is unaffected. With `threads` > 1, the images of a
    batch are spread over a pool created once: Pillow releases the GIL while it decodes and
    resamples, so the threads run in parallel, each holding at most one decoded image (a 40 MP
    PNG takes 160 MB). `decode` is meant for one caller at a time.
    """

    def __init__(self, spec: Preprocessing, limits: DecodeLimits, threads: int) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self._spec = spec
        self._limits = limits
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="decode") if threads > 1 else None

    def decode(self, images: Sequence[bytes]) -> tuple[Pixels, list[InvalidImage | None]]:
        """The array of the images that decoded, in order, and per input image its error or None."""
        size = self._spec.input_size
        # Rows are written in place by the workers: no per-image array, no np.stack.
        pixels = np.empty((len(images), 3, size, size), dtype=np.float32)

        def one(index: int) -> InvalidImage | None:
            try:
                decode_into(images[index], self._spec, pixels[index], self._limits)
            except InvalidImage as exc:
                return exc
            return None

        if self._pool is None or len(images) < 2:
            errors = [one(index) for index in range(len(images))]
        else:
            errors = list(self._pool.map(one, range(len(images))))
        decoded = [index for index, error in enumerate(errors) if error is None]
        if len(decoded) < len(images):
            # Close the gaps of the failures, moving each row at most once; a leading slice of a
            # C-contiguous array is C-contiguous.
            for row, index in enumerate(decoded):
                if row != index:
                    pixels[row] = pixels[index]
            pixels = pixels[: len(decoded)]
        return pixels, errors

    def close(self) -> None:
        """Release the decoder's threads, if it has any."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def __enter__(self) -> BatchDecoder:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
