"""Cheap looks at a file's structure in its bytes, for work that Pillow's header reads do not see.

Pillow reads a header and stops; the costly parts come later, in C libraries or in chunks read
when the pixels load. These walks find them first, at the cost of a byte search or a loop over
length-prefixed chunks, bounded whatever the bytes:
- a progressive JPEG's scans: each one is a pass of libjpeg over the whole image, and a scan can
  take a few dozen bytes (one that refines every coefficient with a single end-of-band run), so
  a small file can ask for minutes of decoding;
- a PNG's compressed metadata chunks (zTXt, iTXt, iCCP): Pillow inflates each, up to
  `PngImagePlugin.MAX_TEXT_CHUNK`, even those that turn out corrupt, which its text budget does
  not count;
- an animated WebP: Pillow's reader walks every frame when it opens the file.
"""

from __future__ import annotations

import struct

from PIL import Image, PngImagePlugin

from adapters.images.opening import TooIntricate
from inference.errors import InvalidImage

# We never read the text: it only needs to be small enough that inflating it costs little, and
# large enough that real metadata (an XMP packet, an ICC profile, which the same cap bounds) still
# opens. Pillow's defaults (1 MiB a chunk, 64 MiB in all) let a 65 KB file inflate 64 MB.
PngImagePlugin.MAX_TEXT_CHUNK = 256 * 1024
PngImagePlugin.MAX_TEXT_MEMORY = 1024 * 1024

# Far above a real file's (a few: an ICC profile, XMP, EXIF as text), and 32 x MAX_TEXT_CHUNK
# bounds what a file can make Pillow inflate.
MAX_COMPRESSED_CHUNKS = 32
# A PNG's chunks walked at most; Pillow's read budget (MAX_READS, a few reads a chunk) refuses
# more anyway.
MAX_PNG_CHUNKS = 20_000

_COMPRESSED_CHUNKS = frozenset({b"zTXt", b"iTXt", b"iCCP"})
_SOS = b"\xff\xda"


def is_progressive_jpeg(image: Image.Image) -> bool:
    return image.format in ("JPEG", "MPO") and bool(image.info.get("progressive"))


def check_jpeg_scans(data: bytes, image: Image.Image, max_scans: int) -> None:
    """Raise InvalidImage for a progressive JPEG of more than `max_scans` scans.

    Counts the start-of-scan markers in the bytes: inside entropy-coded data a 0xFF byte is
    always followed by 0x00 or a restart marker, so every one found is a scan, except in metadata
    (an EXIF thumbnail's scan), a few at most in a real file. Sequential JPEGs are not limited:
    each of their scans carries its own coefficients, so their work grows with their bytes.
    """
    if is_progressive_jpeg(image):
        scans = data.count(_SOS)
        if scans > max_scans:
            raise InvalidImage(f"the progressive JPEG has {scans:,} scans; the limit is {max_scans:,}")


def png_compressed_chunks(data: bytes, max_chunks: int, before_pixels: bool) -> int:
    """The zTXt, iTXt and iCCP chunks of a PNG before its first image data (IDAT) when
    `before_pixels` (what Pillow reads when it opens a file), or in the whole file (what it reads
    when it loads the pixels); TooIntricate past `max_chunks` chunks."""
    position, found = 8, 0
    for _ in range(max_chunks):
        if position + 8 > len(data):
            return found
        length, kind = struct.unpack_from(">I4s", data, position)
        if kind == b"IEND" or (before_pixels and kind == b"IDAT"):
            return found
        found += kind in _COMPRESSED_CHUNKS
        position += 12 + length
    raise TooIntricate(f"the PNG file is too intricate to read (over {max_chunks:,} chunks)")


def check_png_chunks(data: bytes, before_pixels: bool) -> None:
    """Raise InvalidImage for a PNG of more compressed metadata chunks than any real one has."""
    found = png_compressed_chunks(data, MAX_PNG_CHUNKS, before_pixels)
    if found > MAX_COMPRESSED_CHUNKS:
        raise InvalidImage(
            f"the PNG has {found:,} compressed metadata chunks; the limit is {MAX_COMPRESSED_CHUNKS}"
        )


def is_animated_webp(data: bytes) -> bool:
    """The animation flag of a WebP's extended header (VP8X), which an animation must set."""
    return data[12:16] == b"VP8X" and len(data) > 20 and bool(data[20] & 0x02)
