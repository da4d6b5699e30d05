"""Reading the uploaded image from either a multipart form or a raw `image/*` body, size-capped."""

from __future__ import annotations

import io
from collections.abc import AsyncGenerator, AsyncIterator
from tempfile import SpooledTemporaryFile
from typing import BinaryIO, cast

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from entrypoints.http.errors import UploadError

IMAGE_FIELD = "image"

# Room for the multipart envelope (boundaries, part headers) around an image of `limit` bytes.
_MULTIPART_SLACK = 16 * 1024
# An upload stays in memory up to this size and spills to a temporary file beyond it.
SPOOL_BYTES = 1024 * 1024
# Form fields other than the image (none are defined; a client may send a few small ones).
MAX_FIELD_BYTES = 1024


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
    """The image's bytes; UploadError 413 past `limit`, 422 when missing or empty.

    The body is never held whole: it streams through a byte counter that refuses it (413) the
    moment it passes the limit, into a file that stays in memory up to SPOOL_BYTES and goes to
    disk beyond. So a flood of over-limit uploads costs about SPOOL_BYTES each, not the limit.
    """
    declared = request.headers.get("content-length")
    length = int(declared) if declared and declared.isdigit() else None
    content_type = request.headers.get("content-type", "").lower()
    multipart = content_type.startswith("multipart/form-data")
    if length is not None and length > limit + (_MULTIPART_SLACK if multipart else 0):
        raise _too_large(limit)  # known before a byte is read
    if multipart:
        upload = await _image_from_form(request, _capped(request.stream(), limit + _MULTIPART_SLACK, limit))
    elif length is not None:
        # The fast path: a raw body of a declared length within the limit (the server reads no
        # further than the length) is read as it is, with no spooling and no form to parse.
        image = await request.body()
        if not image:
            raise UploadError(422, "empty_image", "the image is empty")
        return image
    else:  # chunked: whatever the declared type, the bytes decide whether it is an image
        upload = await _spool(_capped(request.stream(), limit, limit))
    try:
        if upload.size is not None and upload.size > limit:
            raise _too_large(limit)
        image = await upload.read()
    finally:
        await upload.close()
    if not image:
        raise UploadError(422, "empty_image", "the image is empty")
    return image


async def _capped(chunks: AsyncIterator[bytes], cap: int, limit: int) -> AsyncGenerator[bytes, None]:
    """`chunks`, refused with 413 (quoting `limit`) as soon as they add up to more than `cap`."""
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > cap:
            raise _too_large(limit)
        yield chunk


async def _spool(chunks: AsyncIterator[bytes]) -> UploadFile:
    spooled = cast(BinaryIO, SpooledTemporaryFile(max_size=SPOOL_BYTES))  # noqa: SIM115 - closed below
    upload = UploadFile(spooled)
    try:
        async for chunk in chunks:
            await upload.write(chunk)  # in a thread once it has rolled over to disk
        await upload.seek(0)
    except BaseException:
        await upload.close()
        raise
    return upload


async def _image_from_form(request: Request, chunks: AsyncGenerator[bytes, None]) -> UploadFile:
    # One file (the image), a few small fields at most: anything else is not this API's form.
    parser = MultiPartParser(
        request.headers, chunks, max_files=1, max_fields=16, max_part_size=MAX_FIELD_BYTES
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise UploadError(422, "invalid_form", f"cannot parse the form: {exc.message}") from exc
    field = form.get(IMAGE_FIELD)
    for _, value in form.multi_items():
        if isinstance(value, UploadFile) and value is not field:
            await value.close()
    if isinstance(field, UploadFile):
        return field
    if field is None:
        raise UploadError(422, "missing_image", f"the form has no {IMAGE_FIELD!r} file field")
    data = field.encode()  # a plain field, already capped at MAX_FIELD_BYTES
    return UploadFile(io.BytesIO(data), size=len(data))


def _too_large(limit: int) -> UploadError:
    return UploadError(413, "payload_too_large", f"the upload exceeds the limit of {limit} bytes")
