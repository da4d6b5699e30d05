"""Which uploads count as images: judged by their bytes, never by a declared type."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inference.errors import EmptyImage, InvalidImage, UnsupportedImage
from inference.media import SUPPORTED_MEDIA_TYPES, sniff_media_type
from tests.images import encoded_image


@pytest.mark.parametrize(
    ("pillow_format", "media_type"),
    [
        ("JPEG", "image/jpeg"),
        ("PNG", "image/png"),
        ("GIF", "image/gif"),
        ("BMP", "image/bmp"),
        ("TIFF", "image/tiff"),
        ("WEBP", "image/webp"),
    ],
)
def test_each_accepted_format_is_recognised_from_its_bytes(pillow_format: str, media_type: str) -> None:
    assert sniff_media_type(encoded_image(pillow_format)) == media_type


@pytest.mark.parametrize(
    ("header", "media_type"),
    [
        (b"GIF89a\x01\x00\x01\x00", "image/gif"),
        (b"MM\x00*\x00\x00\x00\x08", "image/tiff"),  # big-endian TIFF
    ],
)
def test_the_other_variant_of_a_format_is_recognised_too(header: bytes, media_type: str) -> None:
    assert sniff_media_type(header) == media_type


def test_the_accepted_media_types_are_the_six_image_formats() -> None:
    assert set(SUPPORTED_MEDIA_TYPES) == {
        "image/bmp",
        "image/gif",
        "image/jpeg",
        "image/png",
        "image/tiff",
        "image/webp",
    }


def test_an_empty_upload_is_refused_as_empty() -> None:
    with pytest.raises(EmptyImage):
        sniff_media_type(b"")


def _wave_header() -> bytes:
    # RIFF is shared by WebP, WAV and AVI: only the four bytes at offset 8 tell them apart.
    return b"RIFF" + struct.pack("<I", 36) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 8000, 1, 8)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"hello, I am a text file\n", id="text"),
        pytest.param(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", id="pdf"),
        pytest.param(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n", id="eps"),
        pytest.param(b"\xc5\xd0\xd3\xc6" + b"\x00" * 28, id="binary-eps"),
        pytest.param(_wave_header(), id="riff-wave"),
        pytest.param(b"XXXXXXXXWEBPVP8 ", id="webp-tag-without-riff"),
        pytest.param(b"\xff\xd8", id="truncated-jpeg-magic"),
        pytest.param(b"BMW annual report, 2026 edition\n", id="text-that-starts-like-a-bmp"),
    ],
)
def test_uploads_that_are_not_accepted_images_are_refused_as_unsupported(data: bytes) -> None:
    with pytest.raises(UnsupportedImage):
        sniff_media_type(data)


def test_an_unsupported_upload_is_told_which_formats_are_accepted() -> None:
    with pytest.raises(UnsupportedImage, match="JPEG, PNG, TIFF, WEBP"):
        sniff_media_type(b"not an image")


@given(st.binary(max_size=64))
def test_any_bytes_are_either_an_accepted_media_type_or_an_invalid_image(data: bytes) -> None:
    try:
        media_type = sniff_media_type(data)
    except InvalidImage:
        return
    assert media_type in SUPPORTED_MEDIA_TYPES


@given(st.sampled_from(["JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP"]), st.binary(max_size=32))
def test_trailing_bytes_do_not_change_the_verdict(pillow_format: str, tail: bytes) -> None:
    image = encoded_image(pillow_format)
    assert sniff_media_type(image + tail) == sniff_media_type(image)
