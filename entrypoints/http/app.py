"""`create_app()`: the FastAPI application over a container. Building it connects to nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from entrypoints.container import Container, close_adapters, open_adapters
from entrypoints.http.errors import install_error_handlers
from entrypoints.http.routes import router

ReadinessCheck = Callable[[], Awaitable[str]]
LifespanHook = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_app(
    container: Container,
    extra_checks: Mapping[str, ReadinessCheck] | None = None,
    lifespan_hooks: tuple[LifespanHook, ...] = (),
) -> FastAPI:
    """The API; `lifespan_hooks` run inside its lifespan (the embedded mode starts its worker so)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        open_adapters(container)
        try:
            async with AsyncExitStack() as stack:
                for hook in lifespan_hooks:
                    await stack.enter_async_context(hook(app))
                yield
        finally:
            await close_adapters(container)

    app = FastAPI(
        title="Image classification service",
        summary="Submit an image, get a request id at once, read the classification when ready.",
        version="0.1.0",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    app.state.container = container
    app.state.readiness_checks = {
        "queue": _ping(lambda: container.queue().ping()),
        "store": _ping(lambda: container.store().ping()),
        **(extra_checks or {}),
    }
    install_error_handlers(app, retry_after=container.config.api.retry_after_seconds())
    app.include_router(router)
    return app


def _ping(ping: Callable[[], Awaitable[None]]) -> ReadinessCheck:
    async def check() -> str:
        await ping()
        return "ok"

    return check
