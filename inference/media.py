"""Which images we accept: formats judged by the bytes themselves (never by a declared type), and
sizes judged by the header, before any pixel is decoded."""

from __future__ import annotations

from dataclasses import dataclass

from inference.errors import EmptyImage, ImageTooLarge, InvalidImage, TooManyFrames, UnsupportedImage


@dataclass(frozen=True)
class ImageHeader:
    """What an image's header says, read without decoding a pixel. `frames` is 1 unless animated."""

    media_type: str
    width: int
    height: int
    frames: int = 1

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1 or self.frames < 1:
            raise InvalidImage(
                f"the header describes {self.frames} frame(s) of {self.width}×{self.height} pixels"
            )

    @property
    def pixels(self) -> int:
        return self.width * self.height


# (magic prefix, offset, media type). WebP needs a second look: RIFF is shared with WAV and AVI.
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"BM", 0, "image/bmp"),  # two bytes are weak evidence: see _looks_like_bmp
    (b"II*\x00", 0, "image/tiff"),
    (b"MM\x00*", 0, "image/tiff"),
    (b"WEBP", 8, "image/webp"),
)

SUPPORTED_MEDIA_TYPES: tuple[str, ...] = tuple(sorted({media for _, _, media in _SIGNATURES}))


def sniff_media_type(data: bytes) -> str:
    """The media type of an accepted image, or raise EmptyImage / UnsupportedImage."""
    if not data:
        raise EmptyImage("the image is empty")
    for magic, offset, media_type in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            if media_type == "image/webp" and not data.startswith(b"RIFF"):
                continue
            if media_type == "image/bmp" and not _looks_like_bmp(data):
                continue
            return media_type
    raise UnsupportedImage(
        "the upload is not a supported image; accepted formats: "
        + ", ".join(t.removeprefix("image/").upper() for t in SUPPORTED_MEDIA_TYPES)
    )


# The sizes of the DIB headers that Windows and OS/2 bitmaps use, at offset 14.
_BMP_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})


def _looks_like_bmp(data: bytes) -> bool:
    return len(data) >= 18 and int.from_bytes(data[14:18], "little") in _BMP_HEADER_SIZES


@dataclass(frozen=True)
class ImageLimits:
    """The largest image the service takes: pixels per frame (width x height), the longer side,
    and frames."""

    max_pixels: int
    max_frames: int
    max_side: int

    def check(self, header: ImageHeader) -> None:
        """Raise ImageTooLarge or TooManyFrames for a header past the limits."""
        check_size(header.width, header.height, self.max_pixels, self.max_side)
        if header.frames > self.max_frames:
            # Inspectors stop counting past the limit, so "more than" is all that is known.
            raise TooManyFrames(f"the image has more than {self.max_frames:,} frames, the limit")


def check_size(width: int, height: int, max_pixels: int, max_side: int) -> None:
    """Raise ImageTooLarge if width x height exceeds max_pixels, or either side max_side.

    The side is bounded on its own because decoders keep a record per line: a strip of one
    pixel by forty million lines costs a decoder far more memory than its pixels.
    """
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"the image is {width:,}×{height:,} = {width * height:,} pixels; the limit is {max_pixels:,}"
        )
    if max(width, height) > max_side:
        raise ImageTooLarge(f"the image is {width:,}×{height:,}; the limit is {max_side:,} pixels a side")
