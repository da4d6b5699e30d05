"""The log set-up: one JSON object per line with the bound context, every library's records through
it, and no credential or image byte in any line."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import structlog

from entrypoints.invalid_settings import load_settings
from entrypoints.logs import configure_logging, formatter, resolve_format
from entrypoints.startup_errors import InvalidSettings
from tests.harness import SUBMIT
from tests.images import png_bytes
from tests.service import memory_client
from tests.stubs import CRASH_MARKER

KEY = "sk-unit-4f3e2d1c0b9a-distinctive"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every record of the process, as `configure_logging` writes them (JSON, DEBUG and up);
    the root logger is put back as it was afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("DEBUG", "json", stream)
    try:
        yield stream
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        structlog.contextvars.clear_contextvars()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def format_one(record: logging.LogRecord) -> dict[str, Any]:
    line = formatter("json").format(record)
    assert "\n" not in line
    parsed: dict[str, Any] = json.loads(line)
    return parsed


def a_record(name: str, message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord(name, logging.INFO, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


def test_a_record_is_one_json_object_with_time_level_event_logger_and_bound_context() -> None:
    with structlog.contextvars.bound_contextvars(request_id="r-1", trace_id="ab" * 16):
        line = format_one(a_record("adapters.redis", "stored %d records", 3))
    assert line["event"] == "stored 3 records"
    assert line["level"] == "info"
    assert line["logger"] == "adapters.redis"
    assert (line["request_id"], line["trace_id"]) == ("r-1", "ab" * 16)
    stamp = datetime.fromisoformat(line["ts"].replace("Z", "+00:00"))
    assert stamp.utcoffset() is not None
    assert stamp.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_what_a_call_passes_in_extra_becomes_fields_of_its_line() -> None:
    line = format_one(a_record("entrypoints.worker", "batch processed", size=4, duration_seconds=0.25))
    assert (line["size"], line["duration_seconds"]) == (4, 0.25)


def test_uvicorn_s_access_line_gains_method_path_and_status_with_credentials_blanked() -> None:
    access = a_record(
        "uvicorn.access",
        '%s - "%s %s HTTP/%s" %d',
        "127.0.0.1:5",
        "POST",
        "/api/x?api_key=s3cret",
        "1.1",
        202,
    )
    line = format_one(access)
    assert (line["method"], line["status"]) == ("POST", 202)
    assert line["path"] == "/api/x?api_key=[redacted]"
    assert "s3cret" not in json.dumps(line)


def test_image_bytes_and_credentials_never_reach_a_line_whoever_logs_them() -> None:
    image = png_bytes()
    line = json.dumps(
        format_one(
            a_record(
                "somewhere",
                "calling with Bearer %s at amqp://guest:%s@host/",
                KEY,
                "hunter2",
                image=image,
                headers={"Authorization": f"Bearer {KEY}", "X-API-Key": KEY, "accept": "*/*"},
                payload=image,
            )
        )
    )
    assert KEY not in line
    assert "hunter2" not in line
    assert repr(image[8:24])[2:-1] not in line
    assert f"[{len(image)} bytes]" in line
    assert "*/*" in line  # the rest is kept


def test_an_exception_is_in_its_line_as_text() -> None:
    try:
        raise RuntimeError("broke")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), exc_info=sys.exc_info())
    line = format_one(record)
    assert "RuntimeError: broke" in line["exception"]


def test_a_console_traceback_shows_no_local_variable_s_value() -> None:
    secret = KEY  # a local, as an API key or an image would be in a frame
    try:
        raise RuntimeError(f"broke after {len(secret)} characters")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), exc_info=sys.exc_info())
    text = formatter("console").format(record)
    assert "RuntimeError: broke after" in text
    assert KEY not in text


def test_unset_the_format_is_console_on_a_terminal_and_json_for_a_collector() -> None:
    assert resolve_format(None, Terminal()) == "console"
    assert resolve_format(None, io.StringIO()) == "json"
    assert resolve_format("json", Terminal()) == "json"


def test_a_bad_log_format_is_one_line_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFERENCE_LOG_FORMAT", "xml")
    with pytest.raises(InvalidSettings) as refused:
        load_settings()
    [line] = str(refused.value).splitlines()
    assert "INFERENCE_LOG_FORMAT" in line
    assert "json" in line


def test_uvicorn_s_and_our_records_share_the_formatter_and_pika_s_chatter_is_quiet(
    captured: io.StringIO,
) -> None:
    logging.getLogger("uvicorn.error").info("Started server process")
    logging.getLogger("entrypoints.cli").info("serving")
    logging.getLogger("pika.adapters").info("connecting")
    assert [(line["logger"], line["event"]) for line in lines(captured)] == [
        ("uvicorn.error", "Started server process"),
        ("entrypoints.cli", "serving"),
    ]


def test_no_line_of_the_api_or_its_worker_holds_the_api_key_or_the_image(captured: io.StringIO) -> None:
    image = png_bytes(12, 9, (1, 2, 3))
    with memory_client(api_keys=[KEY]) as client:
        accepted = client.post(
            SUBMIT, content=image, headers={"Authorization": f"Bearer {KEY}", "Content-Type": "image/png"}
        )
        assert accepted.status_code == 202
        result = client.get(
            f"{SUBMIT}/{accepted.json()['request_id']}/results",
            params={"wait": 5},
            headers={"Authorization": f"Bearer {KEY}"},
        )
        assert result.json()["status"] == "succeeded"
        for headers in ({"Authorization": f"Bearer {KEY[::-1]}"}, {"X-API-Key": KEY}, {}):
            refused = client.post(
                f"{SUBMIT}?api_key={KEY}", content=image, headers={**headers, "Content-Type": "image/png"}
            )
            assert refused.status_code in (401, 403)
    logged = captured.getvalue()
    assert "batch processed" in logged  # the embedded worker's lines are here too
    assert KEY not in logged
    assert KEY[::-1] not in logged
    assert repr(image[16:40])[2:-1] not in logged


def test_the_worker_s_line_about_one_request_names_it_its_trace_its_batch_and_the_model(
    captured: io.StringIO,
) -> None:
    trace_id = "7e57ab1e" * 4
    with memory_client() as client:
        accepted = client.post(
            SUBMIT,
            content=png_bytes() + CRASH_MARKER,
            headers={"Content-Type": "image/png", "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
        )
        request_id = accepted.json()["request_id"]
        assert client.get(f"{SUBMIT}/{request_id}/results", params={"wait": 5}).json()["status"] == "failed"
    [line] = [line for line in lines(captured) if line["event"].endswith("makes the model fail")]
    assert (line["request_id"], line["trace_id"], line["model"]) == (request_id, trace_id, "stub-net")
    assert line["batch_id"]
    assert "RuntimeError" in line["exception"]
