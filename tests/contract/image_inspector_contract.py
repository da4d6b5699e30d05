"""The ImageInspector port's contract, written once for every implementation.

A test module subclasses ImageInspectorContract and provides a `subject` fixture (an
InspectorHarness), parametrized by implementation: the stub the unit tests lean on, and the
Pillow inspector. The stub answers with the size and frames its test gave it, so the checks that
need a real header reader (exact sizes, unreadable headers) run only where `reads_headers` is set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from inference.errors import EmptyImage, ImageTooLarge, InvalidImage, UnsupportedImage
from inference.media import ImageHeader, sniff_media_type
from inference.ports import ImageInspector
from tests.images import PNG_SIGNATURE, animated, encoded_image, gif_with_frames, png_header_claiming

FORMATS = ["JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP"]


@dataclass(frozen=True)
class InspectorHarness:
    """How the contract reaches one implementation. `make(width, height, frames)` gives an
    inspector; one that reads real headers (`reads_headers`) ignores the arguments."""

    make: Callable[[int, int, int], ImageInspector]
    reads_headers: bool


Inspect = Callable[[ImageInspector, bytes, int], ImageHeader | None]


def full(inspector: ImageInspector, image: bytes, max_frames: int) -> ImageHeader | None:
    return inspector.inspect(image, max_frames)


def quick(inspector: ImageInspector, image: bytes, max_frames: int) -> ImageHeader | None:
    return inspector.inspect_quickly(image, max_frames)


BOTH = pytest.mark.parametrize("call", [full, quick], ids=["inspect", "inspect_quickly"])


class ImageInspectorContract:
    @pytest.mark.parametrize("fmt", FORMATS)
    def test_the_media_type_is_the_one_the_bytes_are_sniffed_as(
        self, subject: InspectorHarness, fmt: str
    ) -> None:
        image = encoded_image(fmt, 40, 30)

        header = subject.make(40, 30, 1).inspect(image, 10)

        assert header.media_type == sniff_media_type(image)
        assert min(header.width, header.height, header.frames) >= 1

    @pytest.mark.parametrize("fmt", FORMATS)
    def test_the_size_is_the_one_the_header_states(self, subject: InspectorHarness, fmt: str) -> None:
        if not subject.reads_headers:
            pytest.skip("the stub gives the size its test asked for")

        header = subject.make(1, 1, 1).inspect(encoded_image(fmt, 40, 30), 10)

        assert (header.width, header.height, header.frames) == (40, 30, 1)

    @pytest.mark.parametrize("max_frames", [1, 2, 9])
    def test_frames_are_counted_no_further_than_one_past_the_limit(
        self, subject: InspectorHarness, max_frames: int
    ) -> None:
        inspector = subject.make(8, 8, 50)

        for image in (animated("GIF", 12), gif_with_frames(50)):
            header = inspector.inspect(image, max_frames)
            assert 1 <= header.frames <= max_frames + 1
            assert header.frames == max_frames + 1  # every image here holds more than the limit

    def test_an_animation_within_the_limit_gives_its_frame_count(self, subject: InspectorHarness) -> None:
        header = subject.make(8, 8, 3).inspect(animated("GIF", 3), 10)

        assert header.frames == 3

    @BOTH
    def test_empty_bytes_are_refused_as_empty(self, subject: InspectorHarness, call: Inspect) -> None:
        with pytest.raises(EmptyImage):
            call(subject.make(8, 8, 1), b"", 10)

    @BOTH
    @pytest.mark.parametrize(
        "data",
        [b"%PDF-1.7 not an image", b"\x00" * 64, b"RIFF\x10\x00\x00\x00WAVEfmt "],
        ids=["pdf", "zeros", "wave"],
    )
    def test_bytes_of_no_accepted_format_are_refused_as_unsupported(
        self, subject: InspectorHarness, call: Inspect, data: bytes
    ) -> None:
        with pytest.raises(UnsupportedImage):
            call(subject.make(8, 8, 1), data, 10)

    @pytest.mark.parametrize(
        "data",
        [PNG_SIGNATURE + b"\0" * 64, b"\xff\xd8\xff" + b"\0" * 64, b"GIF89a\x01"],
        ids=["png", "jpeg", "gif"],
    )
    def test_an_unreadable_header_is_refused_as_an_invalid_image(
        self, subject: InspectorHarness, data: bytes
    ) -> None:
        if not subject.reads_headers:
            pytest.skip("the stub reads no header; its test chooses the error it raises")

        with pytest.raises(InvalidImage):
            subject.make(8, 8, 1).inspect(data, 10)

    def test_a_size_the_reader_refuses_is_an_image_too_large_or_its_true_size(
        self, subject: InspectorHarness
    ) -> None:
        if not subject.reads_headers:
            pytest.skip("the stub reads no header")
        try:
            header = subject.make(8, 8, 1).inspect(png_header_claiming(50_000, 50_000), 10)
        except ImageTooLarge:
            return
        assert (header.width, header.height) == (50_000, 50_000)  # the caller applies the limit

    @pytest.mark.parametrize("fmt", FORMATS)
    def test_a_quick_inspection_is_none_or_the_full_one(self, subject: InspectorHarness, fmt: str) -> None:
        inspector = subject.make(40, 30, 1)
        image = encoded_image(fmt, 40, 30)

        quickly = inspector.inspect_quickly(image, 10)

        assert quickly is None or quickly == inspector.inspect(image, 10)
