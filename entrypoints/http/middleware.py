"""Small ASGI layers: HEAD wherever GET is served, CORS refusals in the API's JSON, trace context."""

from __future__ import annotations

import structlog
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from entrypoints.tracing import passed_on, recording, server_span


class HeadAsGet:
    """Answers HEAD as the GET of the same URL without its body, as HTTP requires (load balancers
    probe with it). FastAPI's routes declare GET only, and adding HEAD to each would double the
    OpenAPI document's operations."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}  # Content-Length stays the GET's, as it should
            await send(message)

        # A copy: the server keeps reading the original scope's method, and writes no body for HEAD.
        await self.app({**scope, "method": "GET"}, receive, without_body)


class JsonCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, whose refused preflights (plain text) answer like every other error."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        refused = bytes(response.body).decode().removeprefix("Disallowed CORS ")
        headers = {
            name: value
            for name, value in response.headers.items()
            if name not in ("content-length", "content-type")
        }
        return JSONResponse(
            {"detail": f"cross-origin request refused: {refused} not allowed", "code": "cors_refused"},
            status_code=response.status_code,
            headers=headers,
        )


class TraceRequests:
    """Each HTTP request runs in a span under its client's W3C `traceparent` (or a new trace), with
    the trace id bound to every log line it causes (the access line included: uvicorn writes it
    from inside `send`). The `traceparent` to pass on is left in `request.state.traceparent`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"traceparent"), None)
        if not recording():  # the quick way, without OpenTelemetry's no-op spans
            await self._run(scope, receive, send, passed_on(incoming))
            return
        with server_span(incoming, scope["method"]) as (span, traceparent):

            async def noting_status(message: Message) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                await send(message)

            span.set_attribute("url.path", scope["path"])
            await self._run(scope, receive, noting_status, traceparent)

    async def _run(self, scope: Scope, receive: Receive, send: Send, traceparent: str) -> None:
        scope.setdefault("state", {})["traceparent"] = traceparent
        tokens = structlog.contextvars.bind_contextvars(trace_id=traceparent[3:35])
        try:
            await self.app(scope, receive, send)
        finally:  # a server that runs requests in one context must not mix them up
            structlog.contextvars.reset_contextvars(**tokens)
            structlog.contextvars.unbind_contextvars("request_id")  # the routes bind it
