"""Upload limits: refused as soon as they are known to be exceeded, never buffered whole."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from contextlib import AbstractContextManager

from fastapi.testclient import TestClient
from PIL import Image

from entrypoints.settings import ApiSettings
from tests.harness import SUBMIT
from tests.images import png_bytes
from tests.service import memory_client

LIMIT = 50_000


def limited_client(limit: int = LIMIT) -> AbstractContextManager[TestClient]:
    return memory_client(api=ApiSettings(max_upload_bytes=limit))


def chunks(total: int, size: int = 8192) -> Iterator[bytes]:
    """A body of `total` bytes sent chunked (no Content-Length), as a streaming client does."""
    head = png_bytes()
    yield head
    sent = len(head)
    while sent < total:
        chunk = b"\0" * min(size, total - sent)
        sent += len(chunk)
        yield chunk


def test_a_chunked_body_over_the_limit_gets_413_without_a_content_length() -> None:
    with limited_client() as client:
        response = client.post(SUBMIT, content=chunks(20 * LIMIT), headers={"content-type": "image/png"})

    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


def test_a_chunked_body_within_the_limit_is_accepted() -> None:
    with limited_client() as client:
        response = client.post(SUBMIT, content=chunks(LIMIT // 2), headers={"content-type": "image/png"})

    assert response.status_code == 202, response.text


def test_a_multipart_image_over_the_limit_gets_413() -> None:
    with limited_client() as client:
        response = client.post(SUBMIT, files={"image": b"".join(chunks(2 * LIMIT))})

    assert (response.status_code, response.json()["code"]) == (413, "payload_too_large")


def test_a_form_with_two_files_gets_422() -> None:
    with limited_client() as client:
        response = client.post(
            SUBMIT, files=[("image", ("a.png", png_bytes())), ("image", ("b.png", png_bytes()))]
        )

    assert (response.status_code, response.json()["code"]) == (422, "invalid_form")


def test_a_form_with_a_large_text_field_gets_422() -> None:
    with limited_client() as client:
        response = client.post(SUBMIT, files={"image": png_bytes()}, data={"note": "x" * 5000})

    assert (response.status_code, response.json()["code"]) == (422, "invalid_form")


def test_a_form_with_a_small_extra_field_is_accepted() -> None:
    with limited_client() as client:
        response = client.post(SUBMIT, files={"image": png_bytes()}, data={"note": "holiday"})

    assert response.status_code == 202, response.text


def test_an_image_larger_than_the_in_memory_spool_is_read_intact() -> None:
    noise = Image.frombytes("RGB", (800, 800), random.Random(1).randbytes(800 * 800 * 3))
    out = io.BytesIO()
    noise.save(out, "PNG")  # noise does not compress: about 2 MB, spilled to a file on the way
    big = out.getvalue()
    with limited_client(limit=20 * 1024 * 1024) as client:
        raw = client.post(SUBMIT, content=big, headers={"content-type": "image/png"})
        form = client.post(SUBMIT, files={"image": big})
        results = [
            client.get(f"{SUBMIT}/{r.json()['request_id']}/results", params={"wait": 10}).json()
            for r in (raw, form)
        ]

    assert len(big) > 1024 * 1024
    assert [r["status"] for r in results] == ["succeeded", "succeeded"]
