"""The Pillow inspector: headers of every format, bombs, absurd frame counts and garbage."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from PIL import Image

from adapters.images.inspector import PillowImageInspector
from adapters.images.opening import MAX_READS
from inference.errors import EmptyImage, ImageTooLarge, InvalidImage, UnsupportedImage
from inference.media import ImageHeader
from tests.images import (
    PNG_SIGNATURE,
    animated,
    apng_declaring,
    encode,
    encoded_image,
    gif_claiming_screen,
    gif_with_frames,
    png_chunk,
    png_header_claiming,
    png_with_broken_data,
    tiff_with_pages,
    truncated_jpeg,
)

inspector = PillowImageInspector(max_jpeg_scans=100)


def inspect(data: bytes, max_frames: int = 1000) -> ImageHeader:
    return inspector.inspect(data, max_frames)


@pytest.mark.parametrize(
    ("data", "media_type"),
    [
        (encoded_image("JPEG", 40, 30), "image/jpeg"),
        (encoded_image("PNG", 40, 30), "image/png"),
        (encoded_image("GIF", 40, 30), "image/gif"),
        (encoded_image("BMP", 40, 30), "image/bmp"),
        (encoded_image("TIFF", 40, 30), "image/tiff"),
        (encoded_image("WEBP", 40, 30), "image/webp"),
        (encode(Image.new("RGB", (40, 30)), "MPO", save_all=True, append_images=[Image.new("RGB", (40, 30))]),
         "image/jpeg"),
    ],
    ids=["jpeg", "png", "gif", "bmp", "tiff", "webp", "mpo"],
)  # fmt: skip
def test_each_accepted_format_gives_its_media_type_and_size(data: bytes, media_type: str) -> None:
    header = inspect(data)

    assert (header.media_type, header.width, header.height) == (media_type, 40, 30)
    assert header.frames == (2 if data.startswith(b"\xff\xd8") and b"MPF" in data else 1)


def test_the_header_is_read_without_decoding_the_pixels() -> None:
    # Neither file has pixels a decoder could read; both headers are perfectly readable.
    assert inspect(png_with_broken_data(b"not zlib at all", 300, 200)) == ImageHeader("image/png", 300, 200)
    assert inspect(truncated_jpeg()) == ImageHeader("image/jpeg", 320, 240)


def test_a_png_whose_header_claims_50000_by_50000_pixels_is_refused_as_too_large() -> None:
    with pytest.raises(ImageTooLarge, match="too large to decode safely"):
        inspect(png_header_claiming(50_000, 50_000))


def test_a_gif_on_a_logical_screen_of_65535_by_65535_is_refused_as_too_large() -> None:
    with pytest.raises(ImageTooLarge):
        inspect(gif_claiming_screen(65_535, 65_535))


def test_a_size_between_the_service_limit_and_pillows_threshold_is_reported_for_the_limits_to_judge() -> None:
    assert inspect(png_header_claiming(8000, 6000)) == ImageHeader("image/png", 8000, 6000)


def test_pillows_bomb_warning_is_an_error_in_any_process_that_opens_images() -> None:
    # In a fresh interpreter (pytest's own filter makes the warning an error here anyway): 100 MP
    # lies between Pillow's warning (89 MP) and its error (179 MP).
    script = (
        "from adapters.images.inspector import PillowImageInspector\n"
        "from inference.errors import ImageTooLarge\n"
        "from tests.images import png_header_claiming\n"
        "try:\n"
        "    PillowImageInspector(max_jpeg_scans=100).inspect(png_header_claiming(10_000, 10_000), 1)\n"
        "except ImageTooLarge:\n"
        "    raise SystemExit(0)\n"
        "raise SystemExit('the 100 MP header was read')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("data", "frames"),
    [
        (gif_with_frames(3), 3),
        (animated("GIF", 4), 4),
        (animated("PNG", 4), 4),
        (animated("WEBP", 4), 4),
        (animated("TIFF", 4), 4),
        (tiff_with_pages(3), 3),
    ],
    ids=["gif", "gif-by-pillow", "apng", "webp", "tiff-by-pillow", "tiff"],
)
def test_the_frames_of_an_animation_are_counted(data: bytes, frames: int) -> None:
    assert inspect(data).frames == frames


@pytest.mark.parametrize(
    "data",
    [gif_with_frames(50_000), apng_declaring(2**31 - 1), tiff_with_pages(2000)],
    ids=["gif-50000-frames", "apng-declaring-2^31", "tiff-2000-pages"],
)
def test_frames_are_counted_no_further_than_one_past_the_limit(data: bytes) -> None:
    started = time.perf_counter()
    header = inspect(data, max_frames=1000)
    elapsed = time.perf_counter() - started

    assert header.frames == 1001
    print(f"counted to 1001 frames of {len(data):,} bytes in {elapsed * 1000:.1f} ms")


def test_a_tiff_whose_pages_loop_counts_each_page_once() -> None:
    assert inspect(tiff_with_pages(3, loop=True)).frames == 3


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xd8\xff" + b"\x00" * 100,
        PNG_SIGNATURE + b"\x00" * 100,
        PNG_SIGNATURE + encoded_image("GIF"),  # a GIF behind a PNG signature is not read as a GIF
        b"GIF89a" + b"\x01",
        b"BM" + b"\x00" * 12 + b"\x28\x00\x00\x00" + b"\xff" * 40,
        b"II*\x00" + b"\xff" * 40,
        b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 20,
    ],
    ids=["jpeg", "png", "png-signature-gif-body", "gif", "bmp", "tiff", "webp"],
)
@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")
def test_garbage_behind_a_valid_signature_is_an_invalid_image(data: bytes) -> None:
    with pytest.raises(InvalidImage) as raised:
        inspect(data)

    assert type(raised.value) is InvalidImage


def test_an_empty_upload_and_a_foreign_format_keep_their_own_errors() -> None:
    with pytest.raises(EmptyImage):
        inspect(b"")
    with pytest.raises(UnsupportedImage):
        inspect(b"%PDF-1.7")


def test_a_gif_whose_screen_and_frame_have_no_pixels_is_an_invalid_image() -> None:
    with pytest.raises(InvalidImage):
        inspect(gif_claiming_screen(0, 0, frame=(0, 0)))


def _jpeg_padded(padding: int) -> bytes:
    data = encoded_image("JPEG")
    return data[:2] + b"\xff" * padding + data[2:]


def _png_with_empty_chunks(count: int) -> bytes:
    data = encoded_image("PNG")
    ihdr_end = 8 + 25
    return data[:ihdr_end] + png_chunk(b"teXt", b"") * count + data[ihdr_end:]


def _gif_of_one_byte_blocks(count: int) -> bytes:
    head = gif_with_frames(1)[:-5]  # up to the frame's LZW code size
    return head + b"\x01\x00" * count + b"\x00;"


@pytest.mark.parametrize(
    "data",
    [_jpeg_padded(2 * MAX_READS), _png_with_empty_chunks(MAX_READS), _gif_of_one_byte_blocks(100_000)],
    ids=["jpeg-padding", "png-empty-chunks", "gif-one-byte-blocks"],
)
def test_a_file_of_countless_tiny_segments_is_refused_after_a_bounded_amount_of_work(data: bytes) -> None:
    with pytest.raises(InvalidImage, match="too intricate"):
        inspect(data)


def test_a_file_of_segments_under_the_budget_is_read() -> None:
    assert inspect(_jpeg_padded(1000)).width == 8
    assert inspect(_png_with_empty_chunks(1000)).width == 8


# --- the quick look, which the API takes on its event loop ---


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP"])
def test_a_quick_look_reads_a_plain_header_as_the_full_inspection_does(fmt: str) -> None:
    data = encoded_image(fmt, 40, 30)
    assert inspector.inspect_quickly(data, 1000) == inspect(data)


def test_a_quick_look_reads_a_real_photo_header() -> None:
    from demo.shapes import draw_jpegs

    [(_, photo)] = draw_jpegs(1, seed=3, size=(1920, 1080))
    assert inspector.inspect_quickly(photo, 1000) == ImageHeader("image/jpeg", 1920, 1080, 1)


@pytest.mark.parametrize(
    "data",
    [_jpeg_padded(1000), _png_with_empty_chunks(1000), gif_with_frames(2), tiff_with_pages(2)],
    ids=["jpeg-padding", "png-empty-chunks", "gif", "tiff"],
)
def test_a_quick_look_hands_over_whatever_needs_more_work(data: bytes) -> None:
    assert inspector.inspect_quickly(data, 1000) is None
    assert inspect(data).width >= 1  # the full inspection reads it


def test_a_quick_look_still_refuses_what_it_can_tell_is_broken() -> None:
    with pytest.raises(InvalidImage):
        inspector.inspect_quickly(truncated_jpeg()[:40], 1000)
    with pytest.raises(ImageTooLarge):
        inspector.inspect_quickly(png_header_claiming(100_000, 100_000), 1000)
