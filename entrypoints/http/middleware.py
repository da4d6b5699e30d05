"""Two small ASGI layers: HEAD wherever GET is served, and CORS refusals in the API's JSON."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


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
