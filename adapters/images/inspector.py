"""The ImageInspector port on Pillow: the header only, and frames counted without decoding any.

Pillow reads a header lazily (`Image.open` never decodes a pixel until `load`). Its frame counts
differ in cost: PNG (APNG's acTL chunk), WebP and MPO declare theirs in the header, free to read,
but GIF's and TIFF's `n_frames` walk the whole file, through Pillow's Python readers (a 10 MiB GIF
of 700,000 one-pixel frames takes 1 s; TIFF's walk is quadratic: 50,000 pages take 16 s). So GIF
and TIFF frames are counted here by walking the container's structure in the bytes, stopping at
the limit: about a millisecond for 1,000 frames.

The quick look, which an event loop may take, leaves to `inspect` (in a thread) whatever needs
more than a fixed amount of work: walked frames, anything Pillow would inflate (a PNG's
compressed metadata), an animated WebP (whose frames Pillow walks on opening), and a progressive
JPEG too long to count its scans in the time.
"""

from __future__ import annotations

import struct

from adapters.images.opening import MAX_READS, TooIntricate, open_image
from adapters.images.structure import (
    check_jpeg_scans,
    check_png_chunks,
    is_animated_webp,
    is_progressive_jpeg,
    png_compressed_chunks,
)
from inference.errors import InvalidImage
from inference.media import ImageHeader, sniff_media_type
from inference.ports import ImageInspector

_DECLARED_FRAMES = frozenset({"PNG", "WEBP", "MPO"})

# A quick look's budget: a camera JPEG's header takes about 50 reads (0.04 ms); 256 reads stay
# well under a millisecond whatever the bytes, where the full budget allows about 30 ms.
QUICK_READS = 256
# Scans are counted by a byte search over the whole file (about 0.2 ms for 100 KiB).
QUICK_SCAN_BYTES = 128 * 1024
_QUICK_PNG_CHUNKS = 64
_WALKED_FRAMES = ("image/gif", "image/tiff")  # frames counted by walking the file: not quick


class _NotQuick(Exception):
    """The quick look found work it leaves to `inspect`."""


class PillowImageInspector(ImageInspector):
    """Also refuses, as InvalidImage, progressive JPEGs of more than `max_jpeg_scans` scans."""

    def __init__(self, *, max_jpeg_scans: int) -> None:
        self._max_jpeg_scans = max_jpeg_scans

    def inspect(self, image: bytes, max_frames: int) -> ImageHeader:
        if sniff_media_type(image) == "image/png":
            check_png_chunks(image, before_pixels=True)
        return self._inspect(image, max_frames, MAX_READS)

    def inspect_quickly(self, image: bytes, max_frames: int) -> ImageHeader | None:
        media_type = sniff_media_type(image)
        try:
            if media_type in _WALKED_FRAMES or (media_type == "image/webp" and is_animated_webp(image)):
                return None
            if media_type == "image/png" and png_compressed_chunks(image, _QUICK_PNG_CHUNKS, True):
                return None  # Pillow would inflate them
            return self._inspect(image, max_frames, QUICK_READS, quick=True)
        except (TooIntricate, _NotQuick):
            return None

    def _inspect(self, image: bytes, max_frames: int, max_reads: int, quick: bool = False) -> ImageHeader:
        stop = max_frames + 1
        with open_image(image, max_reads) as (picture, media_type):
            if quick and is_progressive_jpeg(picture) and len(image) > QUICK_SCAN_BYTES:
                raise _NotQuick
            check_jpeg_scans(image, picture, self._max_jpeg_scans)
            if picture.format == "GIF":
                frames = _gif_frames(image, stop)
            elif picture.format == "TIFF":
                frames = _tiff_frames(image, stop)
            elif picture.format in _DECLARED_FRAMES:
                frames = min(int(getattr(picture, "n_frames", 1)), stop)
            else:
                frames = 1
            return ImageHeader(media_type, picture.width, picture.height, frames)


def _gif_frames(data: bytes, stop: int) -> int:
    """Image descriptors up to the trailer (or garbage), counted no further than `stop`.

    A GIF is a sequence of blocks: extensions ("!") and images (","), each followed by data
    sub-blocks of at most 255 bytes. Encoders write full sub-blocks, so a file of tiny ones is
    hostile: more sub-blocks than one per 32 bytes (plus slack) is refused, which bounds the walk.
    """
    budget = 50_000 + len(data) // 32
    position, frames = 13 + _colour_table_size(data[10]), 0
    while position < len(data) and frames < stop:
        block = data[position]
        if block == 0x2C:  # image descriptor: 9 bytes, a local colour table, the LZW code size
            if position + 10 > len(data):
                break
            frames += 1
            position += 10 + _colour_table_size(data[position + 9]) + 1
        elif block == 0x21:  # extension: its label, then sub-blocks
            position += 2
        else:  # the trailer, or garbage: Pillow stops reading there too
            break
        while position < len(data) and (size := data[position]):
            position += size + 1
            budget -= 1
            if budget < 0:
                raise InvalidImage("the GIF file is too intricate to read (countless tiny data blocks)")
        position += 1
    return max(frames, 1)


def _colour_table_size(flags: int) -> int:
    return 3 << ((flags & 7) + 1) if flags & 0x80 else 0


def _tiff_frames(data: bytes, stop: int) -> int:
    """Image file directories in the chain, counted no further than `stop`.

    Each directory is a count of 12-byte entries and the offset of the next one (0 ends the
    chain). A loop or an offset past the end ends it too, as in Pillow, whose reader then
    decodes the first frame regardless.
    """
    order = "<" if data.startswith(b"II") else ">"
    seen: set[int] = set()
    try:
        (offset,) = struct.unpack_from(order + "I", data, 4)
        while offset and offset not in seen and len(seen) < stop:
            seen.add(offset)
            (entries,) = struct.unpack_from(order + "H", data, offset)
            (offset,) = struct.unpack_from(order + "I", data, offset + 2 + 12 * entries)
    except struct.error:
        pass
    return max(len(seen), 1)
