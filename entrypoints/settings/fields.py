"""Field types the sections share: lists from one variable, URLs checked at start-up."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
)
from pydantic_settings import NoDecode


def _comma_separated(value: object) -> object:
    """`a, b` from the environment → ["a", "b"]; a list (from code) is kept as it is."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


CommaSeparated = Annotated[list[str], NoDecode, BeforeValidator(_comma_separated)]


def _url_check(*schemes: str) -> AfterValidator:
    """A URL with one of `schemes` and, if any, a numeric port: checked here, so that a typo stops
    the start-up with a message instead of failing every request later."""
    prefixes = [f"{scheme}://" for scheme in schemes]
    allowed = f"{', '.join(prefixes[:-1])} or {prefixes[-1]}"

    def check(url: str) -> str:
        if not url.startswith(tuple(prefixes)):
            raise ValueError(f"should start with {allowed}")
        parts = urlsplit(url)
        try:
            parts.port  # noqa: B018 (parsing the port is the check)
        except ValueError:
            raise ValueError("has a port that is not a number from 0 to 65535") from None
        if parts.scheme == "unix" and not parts.path:
            raise ValueError("should name a socket file: unix:///path/to/redis.sock")
        return url

    return AfterValidator(check)


RabbitMQUrl = Annotated[str, _url_check("amqp", "amqps")]
RedisUrl = Annotated[str, _url_check("redis", "rediss", "unix")]
LogLevel = Annotated[
    Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"],
    BeforeValidator(lambda value: value.upper() if isinstance(value, str) else value),
]
