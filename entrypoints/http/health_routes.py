"""The open routes: liveness and readiness for load balancers and container checks, and the
Prometheus scrape. No API key guards them: a prober or scraper holds none, and they name no request."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException

from entrypoints.http.route_helpers import container_of
from entrypoints.http.schemas import Health, Readiness

log = logging.getLogger(__name__)

health_router = APIRouter(prefix="/api")
metrics_router = APIRouter()


@metrics_router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
def prometheus_metrics(request: Request) -> Response:
    """The text format Prometheus scrapes; 404 with metrics off (INFERENCE_METRICS__ENABLED)."""
    registry = container_of(request).metrics()
    if registry is None:
        raise HTTPException(404, "metrics are off")
    return Response(registry.exposition(), media_type=CONTENT_TYPE_LATEST)


@health_router.get("/health", response_model=Health, summary="Liveness")
async def health() -> Health:
    return Health()


@health_router.get(
    "/health/ready",
    response_model=Readiness,
    summary="Readiness: queue, store, model and live workers",
    responses={503: {"model": Readiness}},
)
async def ready(request: Request) -> JSONResponse:
    checks: dict[str, str] = {}
    for name, check in request.app.state.readiness_checks.items():
        try:
            checks[name] = await check()
        except Exception as exc:  # a failing check is an answer, not an error
            # Anyone may read readiness: the dependency's own words (hosts, credentials) are logged.
            log.warning("readiness: %s unavailable: %s", name, exc)
            checks[name] = "unavailable"
    ok = all(state == "ok" for state in checks.values())
    workers = request.app.state.worker_count.latest  # as the "workers" check just counted them
    body = Readiness(status="ready" if ok else "not_ready", checks=checks, workers=workers)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
