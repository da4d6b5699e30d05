"""Opening untrusted bytes with Pillow, shared by the inspector (API) and the decoder (worker).

- The bytes are read as the format their signature names and no other: a corrupt JPEG is never
  retried as a TGA (whose reader accepts almost anything).
- Pillow's DecompressionBombWarning is an error in the whole process: a per-call
  `warnings.catch_warnings` is not thread-safe, and a bomb must not slip through as a log line.
- Pillow's header readers take a Python step per `read`, so a file made of a million tiny
  segments (10 MiB of JPEG padding bytes, PNG chunks of nothing) would cost seconds; reads are
  budgeted, which bounds the work whatever the bytes.
- `ImageFile.LOAD_TRUNCATED_IMAGES` is left False: a truncated image is an error, never a
  half-grey picture.
"""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image, UnidentifiedImageError

from inference.errors import ImageTooLarge, InferenceError, InvalidImage
from inference.media import sniff_media_type

warnings.filterwarnings("error", category=Image.DecompressionBombWarning)

# Far above any real image (a camera JPEG's header takes about 50 reads, a 10 MiB PNG's pixels a
# few thousand, a 1,000-page TIFF's frames about 20,000); at about 1 µs each, 60 ms at most.
MAX_READS = 50_000

_PILLOW_FORMATS = {
    "image/jpeg": ("JPEG",),  # a JPEG with a multi-picture index opens as "MPO"
    "image/png": ("PNG",),
    "image/gif": ("GIF",),
    "image/bmp": ("BMP",),
    "image/tiff": ("TIFF",),
    "image/webp": ("WEBP",),
}
_MEDIA_TYPES = {"MPO": "image/jpeg"} | {names[0]: media for media, names in _PILLOW_FORMATS.items()}


class TooIntricate(InvalidImage):
    """The file needs more reads than the budget allows (see MAX_READS)."""


class _ReadBudgetExceeded(Exception):
    """Raised by a budgeted reader; deliberately not an OSError, which some readers swallow."""


_read = io.BytesIO.read


class _BudgetedReader(io.BytesIO):
    def __init__(self, data: bytes, max_reads: int) -> None:
        super().__init__(data)
        self.reads_left = max_reads

    @property
    def exhausted(self) -> bool:
        return self.reads_left < 0

    def read(self, size: int | None = -1) -> bytes:
        # Pillow reads a camera JPEG's header in about 40 calls: without a property lookup and
        # super() here, a submission's header check takes 22 µs instead of 26.
        self.reads_left = left = self.reads_left - 1
        if left < 0:
            raise _ReadBudgetExceeded
        return _read(self, size)


# What Pillow raises on hostile bytes, found by fuzzing its readers of the six formats: OSError
# (UnidentifiedImageError, truncation, decoder errors), SyntaxError ("not a ... file"), ValueError,
# EOFError, and IndexError or struct.error from short reads in header parsers. The rest are
# cheap insurance against readers we did not catch in the act; MemoryError is an absurd allocation.
_UNREADABLE = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
    ArithmeticError,
    MemoryError,
    _ReadBudgetExceeded,
)


@contextmanager
def open_image(data: bytes, max_reads: int = MAX_READS) -> Iterator[tuple[Image.Image, str]]:
    """The image with its header read and no pixel decoded, and its media type.

    Raises EmptyImage or UnsupportedImage as `sniff_media_type` does. While opening and inside
    the block, whatever Pillow raises becomes ImageTooLarge (its own bomb check) or InvalidImage,
    and every read counts against `max_reads` (TooIntricate, an InvalidImage, past it).
    """
    media_type = sniff_media_type(data)
    name = media_type.removeprefix("image/").upper()
    reader = _BudgetedReader(data, max_reads)
    try:
        with Image.open(reader, formats=_PILLOW_FORMATS[media_type]) as image:
            if _MEDIA_TYPES.get(image.format or "") != media_type:
                raise InvalidImage(f"the {name} signature leads to a {image.format} image")
            yield image, media_type
        if reader.exhausted:  # a reader swallowed the budget's exception and carried on
            raise _ReadBudgetExceeded
    except InferenceError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge(f"the image is too large to decode safely: {exc}") from exc
    except _UNREADABLE as exc:
        if reader.exhausted:
            raise TooIntricate(
                f"the {name} file is too intricate to read (over {max_reads:,} segments)"
            ) from exc
        if isinstance(exc, UnidentifiedImageError):  # its message names our reader object
            raise InvalidImage(f"cannot read the {name} header") from exc
        raise InvalidImage(f"cannot read the {name} image: {exc or type(exc).__name__}") from exc
