"""Properties of the validation path (sniff + inspect) and of decoding, on arbitrary and mutated bytes.

Whatever the bytes, the API's validation either refuses them with the domain's InvalidImage (or a
subclass) or returns a header that agrees with the bytes; the worker's decoding either fails the
same way or yields the model's input. Nothing else escapes: no Pillow exception, no crash.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from adapters.images.decoding import Preprocessing, decode
from adapters.images.inspector import PillowImageInspector
from inference.errors import InvalidImage
from inference.media import sniff_media_type
from tests.images import (
    LIMITS,
    PNG_SIGNATURE,
    animated,
    encode,
    exif_rotated_jpeg,
    gif_with_frames,
    tiff_with_pages,
)

MAX_FRAMES = 3
SPEC = Preprocessing(16, 18, "bilinear", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def _seeds() -> list[bytes]:
    picture = Image.new("RGB", (23, 17), (200, 30, 30))
    picture.paste((20, 60, 220), (5, 4, 15, 12))
    seeds = [encode(picture, fmt) for fmt in ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP")]
    seeds += [encode(picture.convert(mode), "PNG") for mode in ("L", "P", "RGBA", "LA", "I;16")]
    seeds += [encode(picture.convert("CMYK"), "JPEG"), encode(picture, "TIFF", compression="tiff_lzw")]
    seeds += [animated(fmt, 5) for fmt in ("GIF", "PNG", "WEBP", "TIFF")]
    seeds += [exif_rotated_jpeg(), gif_with_frames(6), tiff_with_pages(6)]
    return seeds


SEEDS = _seeds()
SIGNATURES = [b"\xff\xd8\xff", PNG_SIGNATURE, b"GIF89a", b"II*\x00", b"MM\x00*", b"RIFF\0\0\0\0WEBP"]
INTERESTING = [0, 1, 0x7F, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 40_000, 65_536]


@st.composite
def mutated_images(draw: st.DrawFn) -> bytes:
    """A real image after a few bit flips, truncations, splices of another image, and
    insertions of boundary integers, past its signature (the other uploads try signatures)."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(min(12, len(data)), len(data)))
        match draw(st.sampled_from(["flip", "truncate", "splice", "insert"])):
            case "flip" if at < len(data):
                data[at] ^= 1 << draw(st.integers(0, 7))
            case "truncate":
                del data[at:]
            case "splice":
                other = draw(st.sampled_from(SEEDS))
                data[at:] = other[draw(st.integers(0, len(other))) :]
            case "insert":
                packed = struct.pack(draw(st.sampled_from([">I", "<I"])), draw(st.sampled_from(INTERESTING)))
                data[at:at] = packed
    return bytes(data)


# Mutated images twice over: most arbitrary bytes stop at the signature check.
UPLOADS = st.one_of(
    st.binary(max_size=2048),
    st.builds(bytes.__add__, st.sampled_from(SIGNATURES), st.binary(max_size=512)),
    mutated_images(),
    mutated_images(),
)

inspector = PillowImageInspector(max_jpeg_scans=100)

# Pillow warns (UserWarning) about corrupt metadata it skips over; that is expected here.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(UPLOADS)
def test_validating_any_bytes_refuses_with_invalid_image_or_returns_a_header_that_agrees_with_them(
    data: bytes,
) -> None:
    try:
        header = inspector.inspect(data, MAX_FRAMES)
    except InvalidImage as exc:
        event(f"refused: {exc.code}")
        return

    event(f"read: {header.media_type}")
    assert header.media_type == sniff_media_type(data)
    assert header.width >= 1 and header.height >= 1
    assert 1 <= header.frames <= MAX_FRAMES + 1


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(UPLOADS)
def test_decoding_any_bytes_fails_with_invalid_image_or_yields_the_model_input(data: bytes) -> None:
    try:
        pixels = decode(data, SPEC, LIMITS)
    except InvalidImage as exc:
        event(f"refused: {exc.code}")
        return

    event("decoded")
    assert pixels.shape == (3, 16, 16)
    assert np.isfinite(pixels).all()
