"""`create_app()`: the FastAPI application over a container. Building it connects to nothing.

It reads the API keys file, if one is configured, once: a file it cannot use stops it (ApiKeysError).
The OpenAPI document and Swagger UI stay open even with keys: the contract is no secret, and Swagger
UI must load the document before its "Authorize" button can supply a key.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from entrypoints.container import Container, start_adapters, stop_adapters
from entrypoints.http import auth
from entrypoints.http.errors import install_error_handlers
from entrypoints.http.health_routes import health_router, metrics_router
from entrypoints.http.lifecycle_routes import lifecycle_router
from entrypoints.http.middleware import HeadAsGet, JsonCORSMiddleware, TraceRequests
from entrypoints.http.page import install_page
from entrypoints.http.routes import add_request_routes
from entrypoints.http.uploads import UploadBudget
from entrypoints.http.workers import WorkerCount, workers_router

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[str]]
LifespanHook = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_app(
    container: Container,
    extra_checks: Mapping[str, ReadinessCheck] | None = None,
    lifespan_hooks: tuple[LifespanHook, ...] = (),
) -> FastAPI:
    """The API; `lifespan_hooks` run inside its lifespan (the embedded mode starts its worker so)."""
    api_keys = auth.load_api_keys(container.config.api_keys(), container.config.api_keys_file())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await start_adapters(container, "api")
        try:
            async with AsyncExitStack() as stack:
                for hook in lifespan_hooks:
                    await stack.enter_async_context(hook(app))
                yield
        finally:
            await stop_adapters(container)

    app = FastAPI(
        title="Image classification service",
        summary="Submit an image, get a request id at once, read the classification when ready.",
        version="0.1.0",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
        telemetry=_telemetry(container.config.api.telemetry()),
    )
    app.state.container = container
    app.state.worker_count = worker_count = WorkerCount(container)
    app.state.readiness_checks = {
        "queue": _ping(lambda: container.publisher().ping()),
        "store": _ping(lambda: container.store().ping()),
        **(extra_checks or {}),
        "workers": worker_count.check,
    }
    lifespan_hooks = (worker_count.counting, *lifespan_hooks)
    retry_after = container.config.api.retry_after_seconds()
    app.state.upload_budget = UploadBudget(container.config.api.max_upload_bytes_in_flight(), retry_after)
    install_error_handlers(app, retry_after=retry_after)
    _allow_cross_origin(app, container.config.api.cors_origins())
    app.add_middleware(TraceRequests)  # every log line of a request carries its trace id
    app.add_middleware(HeadAsGet)  # outermost: every layer inside sees a GET
    # The submit and the result first, on the app itself (see `routes`); then the included
    # routers, which FastAPI tries in order, each try costing a walk of its routes. No path of
    # one is a path of another, so the order changes nothing else.
    if api_keys:
        log.info("API keys required (%d configured) on every endpoint but health", len(api_keys))
        add_request_routes(app, auth.api_key_dependencies(api_keys), auth.RESPONSES)
        app.include_router(
            lifecycle_router, dependencies=auth.api_key_dependencies(api_keys), responses=auth.RESPONSES
        )
        # It names hosts and pids: keys protect it as they do the requests.
        app.include_router(
            workers_router, dependencies=auth.api_key_dependencies(api_keys), responses=auth.RESPONSES
        )
    else:
        add_request_routes(app)
        app.include_router(lifecycle_router)
        app.include_router(workers_router)
    app.include_router(health_router)
    # Open like health: a scraper holds no API key, and the figures name no request.
    app.include_router(metrics_router)
    install_page(app, api_key_required=bool(api_keys))
    return app


def _telemetry(enabled: bool) -> TelemetryConfig:
    """FastAPI's own OpenTelemetry signals, off unless asked for: when on, every request checks
    the global providers (environment lookups), about 8 % of the API's CPU at full load even
    with no SDK configured to receive anything."""
    return {} if enabled else {"tracing": False, "metrics": False, "logs": False}


def _allow_cross_origin(app: FastAPI, origins: list[str]) -> None:
    """Browsers on `origins` may call the API; with none, no CORS headers at all (closed)."""
    if origins:
        app.add_middleware(
            JsonCORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Prefer"],
            expose_headers=["Location", "Retry-After", "Idempotent-Replayed", "Preference-Applied"],
        )


def _ping(ping: Callable[[], Awaitable[None]]) -> ReadinessCheck:
    async def check() -> str:
        await ping()
        return "ok"

    return check
