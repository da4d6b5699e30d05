"""The one logging set-up every role runs: structlog's formatter on the standard library's root.

Every record (ours, uvicorn's, uvicorn.access's, pika's) goes through the same chain and comes out
as one JSON object per line (`ts`, `level`, `event`, `logger`, and whatever context is bound:
`request_id`, `trace_id`, `batch_id`, `model`…) or, on a terminal, as coloured console lines.
Context is bound with `structlog.contextvars` (`bind_contextvars`, `bound_contextvars`) by the HTTP
layer and the worker, so that log calls made anywhere below them carry it without knowing it.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any, Literal, TextIO

import structlog
from structlog.types import EventDict, Processor, WrappedLogger

LogFormat = Literal["json", "console"]

# Keys whose values are credentials or image bytes, wherever a log call puts them.
_SECRET_KEYS = re.compile(r"authorization|api[_-]?key|x-api-key|token|secret|password|image|body", re.I)
# Credentials inside text: `Bearer …`, `?api_key=…`, `user:password@` in URLs.
_SECRET_TEXT = (
    (re.compile(r"(Bearer\s+)[^\s'\",]+", re.I), r"\1[redacted]"),
    (
        re.compile(r"([?&][^=&#\s]*(?:key|token|secret|password|auth)[^=&#\s]*=)[^&#\s'\"]*", re.I),
        r"\1[redacted]",
    ),
    (re.compile(r"(://[^:/@\s]+:)[^@/\s]+@"), r"\1[redacted]@"),
)
# What a credential in text needs (cheaper to look for than the patterns: most lines have none).
_SUSPECT_TEXT = re.compile(r"bearer|[=@]", re.I)
# Fields that the set-up itself fills with what it knows holds no secret.
_SAFE_KEYS = frozenset(
    {"ts", "level", "logger", "method", "status", "client", "request_id", "trace_id", "batch_id", "model"}
)
_MAX_TEXT = 2000  # longer strings are cut: whatever they hold (a body echoed back) stays out


def resolve_format(configured: LogFormat | None, stream: TextIO = sys.stderr) -> LogFormat:
    """The configured format; unset: console for people at a terminal, JSON for collectors."""
    if configured is not None:
        return configured
    return "console" if stream.isatty() else "json"


def configure_logging(level: str, log_format: LogFormat | None, stream: TextIO = sys.stderr) -> None:
    """Route every logger of the process through one structlog formatter writing to `stream`.

    Replaces whatever handlers the root had (a second call reconfigures), and makes uvicorn's and
    pika's loggers hand their records up to it instead of printing their own way.
    """
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(resolve_format(log_format, stream), colors=stream.isatty()))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # pika narrates every connection at INFO and every failed reconnect attempt at ERROR; the
    # adapter logs what matters (lost, reconnecting, why) once, in its own words.
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    structlog.configure(
        processors=[*_shared_processors(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def formatter(log_format: LogFormat, colors: bool = False) -> structlog.stdlib.ProcessorFormatter:
    renderer: Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if log_format == "json"
        # A plain traceback: rich's (the default where rich is installed) prints every frame's
        # locals, and a local may hold an API key or an image.
        else structlog.dev.ConsoleRenderer(colors=colors, exception_formatter=structlog.dev.plain_traceback)
    )
    tail: list[Processor] = [structlog.processors.format_exc_info] if log_format == "json" else []
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        pass_foreign_args=True,  # for `_access_fields`
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *tail,
            redact,
            renderer,
        ],
    )


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        _drop_color_message,
        _access_fields,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
        structlog.processors.StackInfoRenderer(),
    ]


def _drop_color_message(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    event_dict.pop("color_message", None)  # uvicorn's `extra`: its message again, with ANSI colours
    return event_dict


def _access_fields(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """uvicorn's access line as fields too ('%s - "%s %s HTTP/%s" %d'): method, path, status."""
    record = event_dict.get("_record")
    args = event_dict.pop("positional_args", None)  # already in `event`: the record's message
    if record is not None and record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
        client, method, path, _, status = args
        event_dict.update(client=client, method=method, path=path, status=status)
    return event_dict


def redact(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """No credential and no image bytes in a line, whoever logged them and however."""
    for key, value in list(event_dict.items()):
        if key not in _SAFE_KEYS and key != "exc_info":  # the console renders that tuple itself
            event_dict[key] = _redacted(key, value)
    return event_dict


def _redacted(key: str, value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return f"[{len(value)} bytes]"
    if key != "event" and _SECRET_KEYS.search(key) and not key.endswith(("_id", "_ids", "_seconds")):
        return "[redacted]"
    if isinstance(value, str):
        return _redacted_text(value, cut=key != "exception")  # a traceback is read whole
    if isinstance(value, dict):
        return {k: _redacted(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(key, v) for v in value]
    return value


def _redacted_text(text: str, cut: bool) -> str:
    if _SUSPECT_TEXT.search(text):
        for pattern, replacement in _SECRET_TEXT:
            text = pattern.sub(replacement, text)
    return (
        text
        if not cut or len(text) <= _MAX_TEXT
        else f"{text[:_MAX_TEXT]}… [{len(text) - _MAX_TEXT} more chars]"
    )
