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
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType

import numpy as np
import numpy.typing as npt
from PIL import ImageOps
from PIL.JpegImagePlugin import JpegImageFile

from adapters.images.modes import to_rgb_or_grey
from adapters.images.opening import open_image
from adapters.images.resizing import resize_and_crop
from adapters.images.structure import check_jpeg_scans, check_png_chunks
from inference.errors import InvalidImage
from inference.media import check_size

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
        crop = resize_and_crop(to_rgb_or_grey(image), spec)
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
