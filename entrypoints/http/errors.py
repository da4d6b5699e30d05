"""Domain errors → HTTP status codes, always as JSON `{"detail": ..., "code": ...}`.

A dependency's own words (a broker's refusal, a host and port) go to the log, never to clients:
they answer with a fixed sentence per code.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from inference import errors

log = logging.getLogger(__name__)

_STATUS: tuple[tuple[type[errors.InferenceError], int], ...] = (
    (errors.UnknownRequest, 404),
    (errors.AlreadyTerminal, 409),
    (errors.IdempotencyKeyReused, 409),
    (errors.IdempotencyKeyInProgress, 409),
    (errors.InvalidIdempotencyKey, 422),
    (errors.InvalidDeadline, 422),
    (errors.UnsupportedImage, 415),
    (errors.InvalidImage, 422),
    (errors.InvalidRequestId, 422),
    (errors.InvalidTopK, 422),
    (errors.InvalidWebhookUrl, 422),
    # 422 rather than a 5xx: the service works, it refuses this request as it is configured.
    (errors.WebhooksNotConfigured, 422),
    (errors.Overloaded, 429),
    (errors.QueueUnavailable, 503),
    (errors.StoreUnavailable, 503),
)
_RETRY_LATER = {429, 503}
# What clients read when a dependency fails; the exception's text is logged.
DEPENDENCY_DETAIL: dict[type[errors.InferenceError], str] = {
    errors.QueueUnavailable: "the queue is unavailable; retry later",
    errors.StoreUnavailable: "the result store is unavailable; retry later",
}


class HttpError(Exception):
    """An answer the HTTP layer decides itself, before any use case runs: status, code, headers."""

    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.headers = headers or {}


class UploadError(HttpError):
    """A problem with the HTTP body itself, before any image is looked at."""


def error_response(status: int, code: str, detail: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after and status in _RETRY_LATER else None
    return JSONResponse({"detail": detail, "code": code}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI, retry_after: int) -> None:
    async def domain_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, errors.InferenceError)
        status = next((s for kind, s in _STATUS if isinstance(exc, kind)), 500)
        if status == 500:
            log.error("unmapped domain error", exc_info=exc)
        detail = next((text for kind, text in DEPENDENCY_DETAIL.items() if isinstance(exc, kind)), None)
        if detail is not None:
            log.warning("%s %s: %s", request.method, request.url.path, exc)
        response = error_response(status, exc.code, detail or str(exc), retry_after)
        if isinstance(exc, errors.AlreadyTerminal):  # what the cancel came too late for
            response = JSONResponse(
                {"detail": str(exc), "code": exc.code, "status": exc.current.status.value}, status_code=409
            )
        elif isinstance(exc, errors.IdempotencyKeyInProgress):
            response.headers["Retry-After"] = str(retry_after)
        return response

    async def http_layer_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HttpError)
        response = error_response(exc.status, exc.code, exc.detail)
        response.headers.update(exc.headers)
        return response

    async def invalid_parameters(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0]
        field = str(first["loc"][-1]) if first.get("loc") else "request"
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return error_response(422, f"invalid_{field}", detail)

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        response = error_response(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    async def client_gone(request: Request, exc: Exception) -> JSONResponse:
        # A client that hangs up mid-upload is ordinary: no one is left to answer (the server
        # drops this response), and a traceback would only flood the log.
        log.info("%s %s: the client disconnected mid-request", request.method, request.url.path)
        return error_response(400, "client_disconnected", "the client disconnected")

    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "the server failed to handle this request")

    app.add_exception_handler(errors.InferenceError, domain_error)
    app.add_exception_handler(HttpError, http_layer_error)
    app.add_exception_handler(RequestValidationError, invalid_parameters)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(ClientDisconnect, client_gone)
    app.add_exception_handler(Exception, unexpected)


def refusal_code(refusal: Exception) -> str:
    """The code a refused submission's client reads, for the metrics (a 500's own, for the unexpected)."""
    code = getattr(refusal, "code", None)  # a domain or HTTP-layer error's, as its client reads it
    if isinstance(code, str):
        return code
    return "client_disconnected" if isinstance(refusal, ClientDisconnect) else "internal_error"
