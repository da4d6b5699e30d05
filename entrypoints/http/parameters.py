"""Path, query and header parameters read by hand, for the hot routes, as FastAPI would.

FastAPI's dependency solving costs the submit about 15 % of the API's CPU per request, nearly all
of it in its generic per-parameter machinery (alias lookups, sequence checks, deep copies of
defaults) rather than in pydantic's validation. A `Parameter` validates with the same pydantic
type FastAPI would build, raises the same `RequestValidationError` (same `loc`, same messages:
the error handler words it), and describes itself for the OpenAPI document, which the route
then carries in its `openapi_extra` instead of its signature.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request

T = TypeVar("T")


class Parameter(Generic[T]):
    """One parameter `name` of the path (required), the query or the headers (optional, `default`
    when absent), of type `annotation` (an `Annotated[..., Field(...)]` with its constraints,
    title and description)."""

    def __init__(
        self, name: str, where: Literal["path", "query", "header"], annotation: Any, default: T | None = None
    ) -> None:
        self.name, self.where, self.default = name, where, default
        self._adapter: TypeAdapter[T] = TypeAdapter(annotation)
        self._key = name.lower() if where == "header" else name  # Starlette's headers are lower-case

    def read(self, request: Request, errors: list[Any]) -> T | None:
        """Its value, the default when absent; a refusal is appended to `errors` as FastAPI words
        it. (A path parameter is never absent: the route matched it.)"""
        where = self.where
        source = request.query_params if where == "query" else request.headers if where == "header" else None
        # As FastAPI: a query's last value, a header's first.
        raw = request.path_params.get(self._key) if source is None else source.get(self._key)
        if raw is None:
            return self.default
        try:
            return self._adapter.validate_python(raw)
        except ValidationError as exc:
            loc = (self.where, self.name)
            errors.extend({**error, "loc": (*loc, *error["loc"])} for error in exc.errors(include_url=False))
            return None

    def openapi(self) -> dict[str, Any]:
        schema = self._adapter.json_schema()
        if self.default is not None:
            schema["default"] = self.default
        return {
            "name": self.name,
            "in": self.where,
            "required": self.where == "path",
            "schema": schema,
            **({"description": schema["description"]} if "description" in schema else {}),
        }


def refuse_if_any(errors: list[Any]) -> None:
    """Raise the errors the `read`s gathered, all at once, as FastAPI does."""
    if errors:
        raise RequestValidationError(errors)
