"""Hostile images through the HTTP API: refused at POST (422) from their headers alone.

Bombs and absurd animations never reach the queue. What happens to odd images the model does
see is in `tests/e2e/test_hostile_images_on_the_demo_model.py`.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from adapters.memory import MemoryQueue
from entrypoints.settings import ApiSettings
from tests.conftest import MakeClient
from tests.images import (
    PNG_SIGNATURE,
    animated,
    apng_declaring,
    encode,
    gif_claiming_screen,
    gif_with_frames,
    png_header_claiming,
    tiff_with_pages,
)
from tests.service import memory_container, submit_upload


def _assert_refused(status: int, body: dict[str, object], code: str) -> None:
    assert (status, body["code"]) == (422, code), body
    assert isinstance(body["detail"], str) and body["detail"]


# --- Refused at POST, from the header alone -------------------------------------------------------


@pytest.mark.parametrize(
    "image",
    [
        png_header_claiming(50_000, 50_000),
        png_header_claiming(8000, 6000),
        gif_claiming_screen(65_535, 65_535),
    ],
    ids=["png-50000x50000", "png-8000x6000-over-the-40-MP-limit", "gif-screen-65535x65535"],
)
def test_a_decompression_bomb_gets_422_image_too_large(client: TestClient, image: bytes) -> None:
    _assert_refused(*submit_upload(client, image), "image_too_large")


@pytest.mark.parametrize(
    "image",
    [gif_with_frames(1001), apng_declaring(5000), tiff_with_pages(1001)],
    ids=["gif-1001-frames", "apng-declaring-5000", "tiff-1001-pages"],
)
def test_an_animation_of_more_than_1000_frames_gets_422_too_many_frames(
    client: TestClient, image: bytes
) -> None:
    _assert_refused(*submit_upload(client, image), "too_many_frames")


def test_the_configured_limits_refuse_before_anything_is_queued(make_client: MakeClient) -> None:
    container = memory_container(api=ApiSettings(max_pixels=1000, max_frames=2))
    client = make_client(container, started=False)  # no worker: whatever is queued stays
    small = encode(Image.new("RGB", (40, 25)), "PNG")

    _assert_refused(*submit_upload(client, encode(Image.new("RGB", (40, 26)), "PNG")), "image_too_large")
    _assert_refused(*submit_upload(client, animated("WEBP", 3)), "too_many_frames")
    assert isinstance(queue := container.consumer(), MemoryQueue) and queue.depth == 0
    assert submit_upload(client, small)[0] == 202
    assert submit_upload(client, animated("WEBP", 2))[0] == 202


@pytest.mark.parametrize(
    "image",
    [
        PNG_SIGNATURE + b"\0" * 64,
        b"\xff\xd8\xff" + b"\0" * 64,
        b"GIF89a\x01",
        PNG_SIGNATURE + encode(Image.new("RGB", (4, 4)), "GIF"),
    ],
    ids=["png", "jpeg", "gif", "gif-behind-a-png-signature"],
)
def test_garbage_behind_an_image_signature_gets_422_invalid_image(client: TestClient, image: bytes) -> None:
    _assert_refused(*submit_upload(client, image), "invalid_image")


def test_a_file_of_countless_tiny_segments_gets_422_invalid_image(client: TestClient) -> None:
    jpeg = encode(Image.new("RGB", (8, 8)), "JPEG")
    padded = jpeg[:2] + b"\xff" * 200_000 + jpeg[2:]  # 200,000 padding bytes, a read each

    status, body = submit_upload(client, padded)

    _assert_refused(status, body, "invalid_image")
    assert "too intricate" in str(body["detail"])
