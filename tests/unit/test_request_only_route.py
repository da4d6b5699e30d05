"""`RequestOnlyRoute` calls an endpoint that takes the Request alone without FastAPI's dependency
solving, and keeps FastAPI's handler wherever the route has anything to solve."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.testclient import TestClient

from entrypoints.http.request_only import RequestOnlyRoute
from tests.service import memory_client


async def echo(request: Request) -> Response:
    return Response(f"{request.method} {request.url.path}", media_type="text/plain")


def refuse() -> None:
    raise HTTPException(401, "no")


def test_an_endpoint_of_the_request_alone_is_called_as_it_is() -> None:
    app = FastAPI()
    app.router.add_api_route("/echo", echo, methods=["POST"], route_class_override=RequestOnlyRoute)
    route = app.router.routes[-1]

    assert isinstance(route, RequestOnlyRoute) and route.short_way
    assert TestClient(app).post("/echo").text == "POST /echo"


def test_a_route_with_a_dependency_keeps_fastapis_handler_and_runs_it() -> None:
    app = FastAPI()
    app.router.add_api_route(
        "/echo", echo, dependencies=[Depends(refuse)], route_class_override=RequestOnlyRoute
    )

    assert not app.router.routes[-1].short_way  # type: ignore[attr-defined]
    assert TestClient(app).get("/echo").status_code == 401


def test_a_router_of_them_included_with_a_dependency_runs_it() -> None:
    router = APIRouter(route_class=RequestOnlyRoute)
    router.add_api_route("/echo", echo)
    app = FastAPI()
    app.include_router(router, dependencies=[Depends(refuse)])

    assert TestClient(app).get("/echo").status_code == 401
    bare = FastAPI()
    bare.include_router(router)
    assert TestClient(bare).get("/echo").text == "GET /echo"


def test_an_endpoint_with_declared_parameters_keeps_fastapis_handler() -> None:
    async def with_parameter(request: Request, n: int) -> Response:
        return Response(str(n * 2))

    app = FastAPI()
    app.router.add_api_route("/double", with_parameter, route_class_override=RequestOnlyRoute)

    client = TestClient(app)
    assert (client.get("/double?n=21").text, client.get("/double?n=x").status_code) == ("42", 422)


def test_the_services_hot_routes_take_the_short_way_unless_keys_guard_them() -> None:
    def handlers(**settings: Any) -> dict[str, bool]:
        with memory_client(started=False, **settings) as client:
            return {
                route.path: route.short_way
                for route in client.app.routes  # type: ignore[attr-defined]
                if isinstance(route, RequestOnlyRoute)
            }

    open_paths = handlers()
    assert open_paths == {
        "/api/inference/requests": True,
        "/api/inference/requests/{request_id}/results": True,
    }
    assert set(handlers(api_keys=["k"]).values()) == {False}
