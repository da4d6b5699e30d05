"""Reading the uploaded image from either a multipart form or a raw `image/*` body, size-capped."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from entrypoints.http.errors import UploadError

IMAGE_FIELD = "image"

# Room for the multipart envelope (boundaries, part headers) around an image of `limit` bytes.
_MULTIPART_SLACK = 16 * 1024


OPENAPI_REQUEST_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": [IMAGE_FIELD],
                "properties": {IMAGE_FIELD: {"type": "string", "format": "binary"}},
            }
        },
        "image/*": {"schema": {"type": "string", "format": "binary"}},
    },
}


async def read_image(request: Request, limit: int) -> bytes:
    """The image's bytes; UploadError 413 past `limit`, 422 when missing or empty."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + _MULTIPART_SLACK:
        raise _too_large(limit)
    content_type = request.headers.get("content-type", "").lower()
    body = await _read_body(request, limit + _MULTIPART_SLACK)
    if content_type.startswith("multipart/form-data"):
        image = await _image_from_form(request, body, limit)
    else:
        image = body  # whatever the declared type, the bytes decide whether it is an image
    if len(image) > limit:
        raise _too_large(limit)
    if not image:
        raise UploadError(422, "empty_image", "the image is empty")
    return image


async def _read_body(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit - _MULTIPART_SLACK)
        chunks.append(chunk)
    return b"".join(chunks)


async def _image_from_form(request: Request, body: bytes, limit: int) -> bytes:
    async def replay() -> AsyncGenerator[bytes, None]:
        yield body

    parser = MultiPartParser(request.headers, replay(), max_files=1, max_fields=16, max_part_size=limit)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise UploadError(422, "invalid_form", f"cannot parse the form: {exc.message}") from exc
    field = form.get(IMAGE_FIELD)
    try:
        if isinstance(field, UploadFile):
            return await field.read()
        if field is None:
            raise UploadError(422, "missing_image", f"the form has no {IMAGE_FIELD!r} file field")
        return field.encode()
    finally:
        await form.close()


def _too_large(limit: int) -> UploadError:
    return UploadError(413, "payload_too_large", f"the upload exceeds the limit of {limit} bytes")
