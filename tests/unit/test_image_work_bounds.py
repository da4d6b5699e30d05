"""Small files that ask for far more work than their bytes (issue 15): refused before decoding,
and nothing inflated on the event loop.

- a progressive JPEG whose last scan is repeated: each scan is a pass over the whole image;
- a PNG whose compressed text chunks inflate to megabytes, and an animated WebP whose frames
  Pillow walks on opening: left to the threaded inspection, text capped far lower;
- a strip of one pixel by millions of lines: refused by its longer side.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import replace

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, PngImagePlugin

from adapters.images.decoding import Preprocessing, decode
from adapters.images.inspector import QUICK_SCAN_BYTES, PillowImageInspector
from adapters.images.structure import MAX_COMPRESSED_CHUNKS
from entrypoints.container import Container
from entrypoints.settings import ApiSettings
from inference.errors import ImageTooLarge, InvalidImage
from tests.images import LIMITS, animated, encode, png_chunk, png_header_claiming, shape

SUBMIT = "/api/inference/requests"
IDENTITY = Preprocessing(32, 32, "bilinear", (0, 0, 0), (1, 1, 1))


def _scans(jpeg: bytes) -> list[tuple[int, int]]:
    """(start, end) of each scan's segments: the Huffman tables before it, its header, its data."""
    position, scans, tables = 2, [], None
    while jpeg[position + 1] != 0xD9:  # end of image
        (length,) = struct.unpack_from(">H", jpeg, position + 2)
        start, position = position, position + 2 + length
        if jpeg[start + 1] == 0xC4:  # DHT: belongs to the scan it precedes
            tables = start if tables is None else tables
        elif jpeg[start + 1] == 0xDA:  # SOS: its entropy-coded data runs to the next marker
            while jpeg[position] != 0xFF or jpeg[position + 1] == 0 or 0xD0 <= jpeg[position + 1] <= 0xD7:
                position += 1
            scans.append((start if tables is None else tables, position))
            tables = None
        else:
            tables = None
    return scans


def _progressive_jpeg(repeats: int = 0, mode: str = "L") -> bytes:
    """A small progressive JPEG whose last scan (with its tables) is repeated `repeats` times."""
    jpeg = encode(shape(size=(64, 48)).convert(mode), "JPEG", progressive=True)
    start, end = _scans(jpeg)[-1]
    return jpeg[:end] + jpeg[start:end] * repeats + jpeg[end:]


@pytest.mark.parametrize("mode", ["L", "RGB"])
@pytest.mark.parametrize("optimize", [False, True])
def test_pillow_s_progressive_jpegs_have_far_fewer_scans_than_the_default_limit(
    mode: str, optimize: bool
) -> None:
    jpeg = encode(shape().convert(mode), "JPEG", progressive=True, optimize=optimize)

    assert 1 < len(_scans(jpeg)) <= 10 < ApiSettings().max_jpeg_scans


def test_a_progressive_jpeg_past_the_scan_limit_is_refused_by_both_inspections_and_the_decoder() -> None:
    bomb = _progressive_jpeg(repeats=150)
    scans = len(_scans(bomb))
    at_limit, under = (
        PillowImageInspector(max_jpeg_scans=scans),
        PillowImageInspector(max_jpeg_scans=scans - 1),
    )

    assert at_limit.inspect(bomb, 1) == at_limit.inspect_quickly(bomb, 1)
    assert decode(bomb, IDENTITY, replace(LIMITS, max_jpeg_scans=scans)).shape == (3, 32, 32)
    for inspect in (under.inspect, under.inspect_quickly):
        with pytest.raises(InvalidImage, match="scans"):
            inspect(bomb, 1)
    with pytest.raises(InvalidImage, match="scans"):
        decode(bomb, IDENTITY, replace(LIMITS, max_jpeg_scans=scans - 1))


def test_a_jpeg_scan_bomb_gets_422_invalid_image_and_nothing_is_queued(
    client: TestClient, container: Container
) -> None:
    response = client.post(SUBMIT, files={"image": ("bomb.jpg", _progressive_jpeg(repeats=500))})

    assert (response.status_code, response.json()["code"]) == (422, "invalid_image")
    assert "scans" in response.json()["detail"]
    assert container.consumer().depth == 0


def test_a_progressive_jpeg_too_long_to_count_quickly_is_left_to_the_threaded_inspection() -> None:
    noise = Image.fromarray(np.random.default_rng(1).integers(0, 256, (400, 400, 3), dtype=np.uint8))
    progressive, sequential = (encode(noise, "JPEG", quality=95, progressive=flag) for flag in (True, False))
    inspector = PillowImageInspector(max_jpeg_scans=100)
    assert min(len(progressive), len(sequential)) > QUICK_SCAN_BYTES

    assert inspector.inspect_quickly(progressive, 1) is None
    assert inspector.inspect(progressive, 1).width == 400
    assert inspector.inspect_quickly(sequential, 1) == inspector.inspect(sequential, 1)


# --- PNG metadata and animated WebP: never inflated or walked on the event loop ----------------------


def _png(before: list[bytes], after: list[bytes] | None = None) -> bytes:
    """A real 16 x 16 PNG with extra chunks before and after its image data."""
    real = encode(shape(size=(16, 16)), "PNG")
    header_end = 8 + 25  # the signature, then IHDR (13 bytes of data)
    return real[:header_end] + b"".join(before) + real[header_end:-12] + b"".join(after or []) + real[-12:]


def _ztxt(inflated: int, corrupt: bool = False) -> bytes:
    text = zlib.compress(b"a" * inflated)
    return png_chunk(b"zTXt", b"Comment\x00\x00" + (text[:-4] + b"XXXX" if corrupt else text))


def test_pillow_s_png_text_budget_is_capped_process_wide() -> None:
    assert PngImagePlugin.MAX_TEXT_CHUNK <= 256 * 1024
    assert PngImagePlugin.MAX_TEXT_MEMORY <= 1024 * 1024


@pytest.mark.parametrize(
    "chunk",
    [
        _ztxt(1000),
        png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x01\x00\x00\x00" + zlib.compress(b"<x/>" * 250)),
        png_chunk(b"iCCP", b"profile\x00\x00" + zlib.compress(b"\x00" * 3000)),
    ],
    ids=["zTXt", "iTXt", "iCCP"],
)
def test_the_quick_look_leaves_compressed_png_metadata_to_the_thread_without_inflating_it(
    chunk: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    inflated: list[bytes] = []

    def record(data: bytes) -> bytes:
        inflated.append(data)
        return b""

    monkeypatch.setattr(PngImagePlugin, "_safe_zlib_decompress", record)
    inspector = PillowImageInspector(max_jpeg_scans=100)

    assert inspector.inspect_quickly(_png([chunk]), 1) is None
    assert inflated == []
    assert inspector.inspect(_png([chunk]), 1).width == 16  # the thread's look, which inflates it
    assert len(inflated) == 1


def test_a_png_of_megabytes_of_compressed_text_gets_422_invalid_image(client: TestClient) -> None:
    bomb = _png([_ztxt(1024 * 1024)] * 64)
    assert len(bomb) < 128 * 1024

    response = client.post(SUBMIT, files={"image": ("text.png", bomb)})

    assert (response.status_code, response.json()["code"]) == (422, "invalid_image")


def test_a_png_with_real_sized_metadata_is_accepted(client: TestClient) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Raw profile type exif", "0" * 60_000, zip=True)
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta/>" * 2000, zip=True)
    image = encode(shape(), "PNG", pnginfo=info, icc_profile=b"\x00" * 3000)

    response = client.post(SUBMIT, files={"image": ("meta.png", image)})

    assert response.status_code == 202, response.json()


def test_corrupt_compressed_chunks_pillow_does_not_count_are_bounded_in_number() -> None:
    # A corrupt zlib stream is inflated up to MAX_TEXT_CHUNK, then dropped without counting.
    at_limit = _png([], [_ztxt(1000, corrupt=True)] * MAX_COMPRESSED_CHUNKS)
    over = _png([], [_ztxt(1000, corrupt=True)] * (MAX_COMPRESSED_CHUNKS + 1))

    assert decode(at_limit, IDENTITY, LIMITS).shape == (3, 32, 32)
    with pytest.raises(InvalidImage, match="compressed metadata chunks"):
        decode(over, IDENTITY, LIMITS)
    with pytest.raises(InvalidImage, match="compressed metadata chunks"):
        PillowImageInspector(max_jpeg_scans=100).inspect(_png([_ztxt(10, corrupt=True)] * 33), 1)


def test_the_quick_look_leaves_an_animated_webp_to_the_thread() -> None:
    inspector = PillowImageInspector(max_jpeg_scans=100)
    still, moving = encode(shape(), "WEBP"), animated("WEBP", 3)

    assert inspector.inspect_quickly(moving, 10) is None
    assert inspector.inspect(moving, 10).frames == 3
    assert inspector.inspect_quickly(still, 10) == inspector.inspect(still, 10)


# --- Lines: bounded by the longer side -------------------------------------------------------------


def test_a_strip_of_forty_million_lines_gets_422_image_too_large(client: TestClient) -> None:
    strip = png_header_claiming(1, 40_000_000)

    response = client.post(SUBMIT, files={"image": ("strip.png", strip)})

    assert (response.status_code, response.json()["code"]) == (422, "image_too_large")
    assert "a side" in response.json()["detail"]
    with pytest.raises(ImageTooLarge, match="a side"):
        decode(strip, IDENTITY, LIMITS)


def test_wide_greyscale_scaled_a_strip_at_a_time_decodes_as_the_whole_image_scaled_at_once() -> None:
    # 3,000 lines of 700 pixels: several strips of scaling.
    wide = np.random.default_rng(2).integers(0, 65536, (3000, 700), dtype=np.uint16)
    scaled = (wide.astype(np.float32) * np.float32(255 / 65535)).clip(0, 255).astype(np.uint8)

    ours = decode(encode(Image.fromarray(wide), "PNG"), IDENTITY, LIMITS)

    assert np.array_equal(ours, decode(encode(Image.fromarray(scaled), "PNG"), IDENTITY, LIMITS))


def test_a_greyscale_image_resampled_before_it_becomes_rgb_decodes_as_its_rgb_copy() -> None:
    grey = shape(size=(300, 200)).convert("L")

    assert np.array_equal(
        decode(encode(grey, "PNG"), IDENTITY, LIMITS),
        decode(encode(grey.convert("RGB"), "PNG"), IDENTITY, LIMITS),
    )
