"""Reading the settings for a command: a bad one is one line naming it as its user wrote it.

pydantic reports a field by its path (`worker`, `max_batch_size`); an operator wrote
`INFERENCE_WORKER__MAX_BATCH_SIZE` (or a command-line option), and that is the name to show,
with what is allowed, and never a traceback.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, get_args

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import SettingsError

from entrypoints.settings import Settings
from entrypoints.startup_errors import InvalidSettings

FieldPath = tuple[str, ...]

ENV_PREFIX = "INFERENCE_"
# Errors about a number: each becomes "should be a whole number ≥ 1" (with the field's bounds).
_NUMBER_ERRORS = {
    "int_parsing", "int_type", "int_from_float", "float_parsing", "float_type",
    "greater_than", "greater_than_equal", "less_than", "less_than_equal",
}  # fmt: skip
_BOUNDS = ((Ge, "ge", "≥"), (Gt, "gt", ">"), (Le, "le", "≤"), (Lt, "lt", "<"))
_SECRET_FIELDS = (("api_keys",), ("webhook", "secret"))  # never echoed in an error


def load_settings(
    overrides: Mapping[str, Any] | None = None, names: Mapping[FieldPath, str] | None = None
) -> Settings:
    """The environment's settings with `overrides` on top; `names` says what the user calls a
    field when it is overridden (its command-line option), for the error message."""
    overrides = overrides or {}
    given = {path: name for path, name in (names or {}).items() if _given(overrides, path)}
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = [_describe(error, given) for error in exc.errors()]
        raise InvalidSettings("\n".join(lines)) from None
    except SettingsError as exc:  # a whole section given as JSON that does not parse
        section = re.search(r'field "(\w+)"', str(exc))
        name = _environment_name((section.group(1),)) if section else "a setting"
        raise InvalidSettings(
            f"{name}: should be a JSON object (or set each field in its own {ENV_PREFIX}SECTION__FIELD)"
        ) from None


def settings_or_defaults() -> Settings:
    """The environment's settings, or the code's defaults while a setting is bad: for what only
    shows them (--help), so that it works whatever the environment holds."""
    try:
        return Settings()
    except (ValidationError, SettingsError):
        return Settings.model_construct()


def _describe(error: ErrorDetails, names: Mapping[FieldPath, str]) -> str:
    path = tuple(str(part) for part in error["loc"])
    name = names.get(path) or _environment_name(path)
    value = error["input"]
    shown = (
        f"={_shown(value)}"
        if isinstance(value, str | int | float) and not any(path[: len(f)] == f for f in _SECRET_FIELDS)
        else ""
    )
    return f"{name}{shown}: {_allowed(error, path)}"


def _given(overrides: Mapping[str, Any], path: FieldPath) -> bool:
    value: Any = overrides
    for part in path:
        if not isinstance(value, Mapping) or part not in value:
            return False
        value = value[part]
    return True


def _environment_name(path: FieldPath) -> str:
    """The variable as the user spelt it (names are case-insensitive), or as the README does."""
    spelt = {name.upper(): name for name in os.environ if name.upper().startswith(ENV_PREFIX)}
    for length in range(len(path), 0, -1):
        name = ENV_PREFIX + "__".join(path[:length]).upper()
        if name in spelt:  # a section set as JSON names its field after the variable
            rest = ".".join(path[length:])
            return spelt[name] + (f" ({rest})" if rest else "")
    return ENV_PREFIX + "__".join(path).upper()


def _allowed(error: ErrorDetails, path: FieldPath) -> str:
    if error["type"] in _NUMBER_ERRORS and (field := _field(path)) is not None:
        kind = (
            "a number" if float in (get_args(field.annotation) or (field.annotation,)) else "a whole number"
        )
        bounds = [
            f"{sign} {getattr(m, attr)}"
            for m in field.metadata
            for kind_, attr, sign in _BOUNDS
            if isinstance(m, kind_)
        ]
        return f"should be {kind}{' ' if bounds else ''}{' and '.join(bounds)}"
    message = error["msg"].removeprefix("Value error, ")
    return message.replace("Input should be", "should be", 1)


def _field(path: FieldPath) -> Any:
    model: type[BaseModel] = Settings
    for part in path[:-1]:
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model.model_fields.get(path[-1])


def _shown(value: str | int | float) -> str:
    """The value as given, shortened, with a URL's credentials left out."""
    text = str(value)
    scheme, sep, rest = text.partition("://")
    authority = rest.split("/", 1)[0]
    if sep and "@" in authority:
        text = f"{scheme}://…@{authority.rpartition('@')[2]}{rest[len(authority) :]}"
    return repr(text if len(text) <= 60 else text[:57] + "…")
