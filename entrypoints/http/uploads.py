"""Reading the uploaded image from either a multipart form or a raw `image/*` body, size-capped.

Every upload draws its bytes from one `UploadBudget` shared by the API: each upload is capped, and
so is their sum, or a crowd of clients each sending an image just under the limit would take the
API's memory with them.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from tempfile import SpooledTemporaryFile
from typing import BinaryIO, cast

from fastapi import Request
from python_multipart.multipart import parse_options_header
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from entrypoints.http.errors import UploadError

IMAGE_FIELD = "image"

# Room for the multipart envelope (boundaries, part headers) around an image of `limit` bytes.
_MULTIPART_SLACK = 16 * 1024
# An upload stays in memory up to this size and spills to a temporary file beyond it.
SPOOL_BYTES = 1024 * 1024
WEBHOOK_FIELD = "webhook"
# Form fields other than the image (the webhook URL; a client may send a few small others).
MAX_FIELD_BYTES = 4096


OPENAPI_REQUEST_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": [IMAGE_FIELD],
                "properties": {
                    IMAGE_FIELD: {"type": "string", "format": "binary"},
                    WEBHOOK_FIELD: {
                        "type": "string",
                        "format": "uri",
                        "description": "As the `webhook` query parameter (give one or the other).",
                    },
                },
            }
        },
        "image/*": {"schema": {"type": "string", "format": "binary"}},
    },
}


class UploadBudget:
    """Bytes of uploads the API holds at once. The event loop is its only user: no lock."""

    def __init__(self, limit: int, retry_after: int) -> None:
        self.limit, self.retry_after = limit, retry_after
        self.in_flight = 0

    def reserve(self) -> Reservation:
        return Reservation(self)


class Reservation:
    """One upload's share of the budget, grown as its bytes are known, released when it is done.

    An upload is refused (503) only when others hold bytes: alone, it may use its whole limit, so
    a budget set below the upload limit slows the API down but never stops it.
    """

    def __init__(self, budget: UploadBudget) -> None:
        self._budget, self.size = budget, 0

    def grow(self, size: int) -> None:
        budget = self._budget
        others = budget.in_flight - self.size
        if others and others + size > budget.limit:
            raise UploadError(
                503,
                "too_many_uploads",
                "the server holds too many uploads at once; retry later",
                headers={"Retry-After": str(budget.retry_after)},
            )
        budget.in_flight += size - self.size
        self.size = size

    def release(self) -> None:
        self._budget.in_flight -= self.size
        self.size = 0


@dataclass(frozen=True)
class Upload:
    image: bytes
    fields: dict[str, str]  # a form's text fields (none for a raw body)


async def read_image(request: Request, limit: int, reservation: Reservation) -> Upload:
    """The image's bytes and the form's text fields; UploadError 413 past `limit`, 422 when
    missing or empty, 503 when the budget that `reservation` draws from is spent (the caller
    releases it).

    The body is never held whole: it streams through a byte counter that refuses it (413) the
    moment it passes the limit, into a file that stays in memory up to SPOOL_BYTES and goes to
    disk beyond. So a flood of over-limit uploads costs about SPOOL_BYTES each, not the limit.
    """
    declared = request.headers.get("content-length")
    length = int(declared) if declared and declared.isdigit() else None
    content_type = request.headers.get("content-type", "").lower()
    multipart = content_type.startswith("multipart/form-data")
    cap = limit + (_MULTIPART_SLACK if multipart else 0)
    if length is not None and length > cap:
        raise _too_large(limit)  # known before a byte is read
    if length is not None:
        reservation.grow(length)  # so is its share of the budget
    chunks = _capped(request.stream(), cap, limit)
    fields: dict[str, str] = {}
    if multipart:
        upload, fields = await _image_from_form(request, chunks)
    elif length is not None:
        # The fast path: a raw body of a declared length within the limit (the server reads no
        # further than the length) is read as it is, with no spooling and no form to parse.
        image = await request.body()
        if not image:
            raise UploadError(422, "empty_image", "the image is empty")
        return Upload(image, fields)
    else:  # chunked: whatever the declared type, the bytes decide whether it is an image
        upload = await _spool(chunks)
    try:
        if upload.size is not None and upload.size > limit:
            raise _too_large(limit)
        if length is None:  # spooled, mostly to disk, until now: it comes into memory here
            reservation.grow(upload.size or 0)
        image = await upload.read()
    finally:
        await upload.close()
    if not image:
        raise UploadError(422, "empty_image", "the image is empty")
    return Upload(image, fields)


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
    upload = UploadFile(spooled, size=0)  # counted as it is written
    try:
        async for chunk in chunks:
            await upload.write(chunk)  # in a thread once it has rolled over to disk
        await upload.seek(0)
    except BaseException:
        await upload.close()
        raise
    return upload


async def _image_from_form(
    request: Request, chunks: AsyncGenerator[bytes, None]
) -> tuple[UploadFile, dict[str, str]]:
    # One file (the image), a few small fields at most: anything else is not this API's form.
    parser = _ImageFormParser(
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
        return field, {name: value for name, value in form.multi_items() if isinstance(value, str)}
    raise UploadError(422, "missing_image", f"the form has no {IMAGE_FIELD!r} file field")


class _ImageFormParser(MultiPartParser):
    """Takes the image part as a file even when it has no filename (`curl -F 'image=<cat.png'`):
    as a plain field its bytes would be decoded as text, mangled, and capped at a field's size."""

    def on_headers_finished(self) -> None:
        part = self._current_part
        _, options = parse_options_header(part.content_disposition)
        if options.get(b"name") == IMAGE_FIELD.encode() and b"filename" not in options:
            part.content_disposition = (part.content_disposition or b"form-data") + b'; filename="image"'
        super().on_headers_finished()


def _too_large(limit: int) -> UploadError:
    return UploadError(413, "payload_too_large", f"the upload exceeds the limit of {limit} bytes")


def webhook_of(query: str | None, fields: dict[str, str]) -> str | None:
    """The webhook URL, from the query or the form's field: not both."""
    form = fields.get(WEBHOOK_FIELD)
    if query is not None and form is not None:
        raise UploadError(422, "invalid_webhook_url", "give the webhook as a query parameter or a form field")
    return query if form is None else form
