"""`RequestOnlyRoute`: a route whose endpoint takes the Request alone and returns its own
Response, called without FastAPI's per-request machinery.

For every request FastAPI solves the endpoint's dependencies, even when there are none: it
builds a sub-response for headers that dependencies may set, walks the parameter lists, opens
its operation and exit-stack contexts. For the submit that was about a sixth of the route's CPU
in process (141 → 119 µs per POST, measured with the in-memory service). An endpoint that reads
its own parameters (`parameters.Parameter`) and answers with a ready Response needs none of it.

FastAPI's documented way to change how a route handles requests is a custom `APIRoute` whose
`get_route_handler` returns the handler. This one keeps FastAPI's own handler wherever it is
needed: a route with dependencies (the API keys' check) or with declared parameters. And it
takes the short way only for the handler FastAPI builds when the route is made, which sees the
route's own dependencies: a router that holds such a route and is included with dependencies
of its own (`include_router(..., dependencies=...)`) gets FastAPI's handler, which runs them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute


class RequestOnlyRoute(APIRoute):
    """`short_way`: whether the route's requests go straight to the endpoint."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._made_here, self.short_way = True, False  # FastAPI builds the handler in __init__
        super().__init__(*args, **kwargs)
        self._made_here = False  # later handlers (an inclusion's) are FastAPI's own

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        if not (self._made_here and self._takes_the_request_alone()):
            return super().get_route_handler()
        self.short_way = True
        endpoint: Callable[[Request], Coroutine[Any, Any, Response]] = self.endpoint
        return endpoint

    def _takes_the_request_alone(self) -> bool:
        dependant = self.dependant
        parameters = list(inspect.signature(self.endpoint).parameters)
        return (
            inspect.iscoroutinefunction(self.endpoint)
            and parameters == [dependant.request_param_name]
            and not dependant.dependencies
        )
