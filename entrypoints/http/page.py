"""The page at `/` (static files, no build step) and the small config it reads at `/api/config`.

The config is open even when API keys are configured: the page must learn that it needs a key
(and the upload limit, to refuse an oversized file before sending it) before it has one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from entrypoints.http.route_parameters import MAX_WAIT_SECONDS

STATIC = Path(__file__).resolve().parent / "static"


class PageConfig(BaseModel):
    max_upload_bytes: int = Field(description="Larger uploads get 413.")
    default_top_k: int
    max_wait_seconds: float = Field(description="The longest long-poll `?wait=` accepts.")
    api_key_required: bool = Field(description="Whether the API needs `Authorization: Bearer <key>`.")


config_router = APIRouter(prefix="/api")


@config_router.get("/config", response_model=PageConfig, summary="What a client needs to know first")
async def config(request: Request) -> PageConfig:
    settings = request.app.state.container.config.api
    return PageConfig(
        max_upload_bytes=settings.max_upload_bytes(),
        default_top_k=settings.default_top_k(),
        max_wait_seconds=MAX_WAIT_SECONDS,
        api_key_required=request.app.state.api_key_required,
    )


def install_page(app: FastAPI, api_key_required: bool) -> None:
    """`/api/config`, the page at `/`, and each of its files by name. Not a catch-all mount at
    `/`: that would answer every unknown path (and a GET of a POST-only route, or its HEAD)
    with the page's 404 instead of the API's JSON 404 or 405."""
    app.state.api_key_required = api_key_required
    app.include_router(config_router)
    app.add_api_route("/", _file(STATIC / "index.html"), methods=["GET"], include_in_schema=False)
    for path in sorted(STATIC.iterdir()):
        if path.is_file() and path.name != "index.html":
            app.add_api_route(f"/{path.name}", _file(path), methods=["GET"], include_in_schema=False)


def _file(path: Path) -> Callable[[], Awaitable[FileResponse]]:
    async def serve() -> FileResponse:
        return FileResponse(path)

    return serve
