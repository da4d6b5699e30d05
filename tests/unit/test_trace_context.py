"""W3C trace context: taken from a client or made anew, carried to the worker and into the record;
the worker's batch span links to every request's trace."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from adapters.rabbitmq import messages
from adapters.redis.codec import decode_record, encode_record
from entrypoints import tracing
from entrypoints.batch_context import batch_context
from entrypoints.startup_errors import InvalidSettings
from entrypoints.tracing import configure_tracing, new_traceparent, server_span
from inference.domain import RequestRecord
from inference.ports import Delivery
from inference.trace_context import trace_id_of, valid_traceparent
from tests.conftest import MakeClient
from tests.harness import SUBMIT
from tests.images import png_bytes
from tests.stubs import a_request

W3C = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01")
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"
INVALID = ["", "junk", f"00-{'0' * 32}-b7ad6b7169203331-01", f"00-{TRACE_ID}-{'0' * 16}-01",
           f"00-{TRACE_ID.upper()}-b7ad6b7169203331-01", f"ff-{TRACE_ID}-b7ad6b7169203331-01"]  # fmt: skip


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Spans recorded by the SDK, as they would be exported (the global provider stays unset)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"))
    monkeypatch.setattr(tracing, "_recording", True)
    yield exporter
    provider.shutdown()


def test_a_new_traceparent_is_valid_w3c_and_new_each_time() -> None:
    made = {new_traceparent() for _ in range(100)}
    assert len(made) == 100
    assert all(W3C.fullmatch(traceparent) and valid_traceparent(traceparent) for traceparent in made)


def test_the_core_reads_the_trace_id_of_a_valid_traceparent_only() -> None:
    assert trace_id_of(TRACEPARENT) == TRACE_ID
    assert [trace_id_of(text) for text in INVALID] == [None] * len(INVALID)
    assert valid_traceparent(123) is None


def test_a_client_s_valid_traceparent_is_kept_and_an_invalid_one_starts_a_new_trace() -> None:
    with server_span(TRACEPARENT, "POST") as (_, kept):
        assert kept.split("-")[1] == TRACE_ID
    for text in [*INVALID, None]:
        with server_span(text, "POST") as (_, new):
            assert W3C.fullmatch(new), text


def test_with_the_sdk_an_invalid_traceparent_starts_a_new_trace_too(spans: InMemorySpanExporter) -> None:
    for text in [*INVALID, None]:
        with server_span(text, "POST") as (_, new):
            assert W3C.fullmatch(new), text
    assert (
        len({span.context.trace_id for span in spans.get_finished_spans() if span.context})
        == len(INVALID) + 1
    )


def test_with_the_sdk_the_api_s_span_is_a_child_in_the_client_s_trace(spans: InMemorySpanExporter) -> None:
    with server_span(TRACEPARENT, "POST") as (_, passed_on):
        pass
    [span] = spans.get_finished_spans()
    assert span.context is not None and span.parent is not None
    assert f"{span.context.trace_id:032x}" == TRACE_ID
    assert f"{span.parent.span_id:016x}" == "b7ad6b7169203331"
    assert passed_on == f"00-{TRACE_ID}-{span.context.span_id:016x}-01"  # the worker links to this span


def test_the_202_echoes_the_trace_and_the_record_keeps_its_id(make_client: MakeClient) -> None:
    client = make_client()
    sent = submit(client, {"traceparent": TRACEPARENT})
    assert sent.headers["traceparent"].split("-")[1] == TRACE_ID
    assert result(client, sent)["trace_id"] == TRACE_ID


def test_a_request_with_a_bad_or_no_traceparent_is_accepted_under_a_new_trace(
    make_client: MakeClient,
) -> None:
    client = make_client()
    for headers in ({"traceparent": "00-nonsense"}, {}):
        sent = submit(client, headers)
        assert sent.status_code == 202
        assert W3C.fullmatch(sent.headers["traceparent"])
        assert result(client, sent)["trace_id"] == sent.headers["traceparent"].split("-")[1]


def test_the_openapi_schema_documents_the_trace_id_and_the_traceparent_header(
    make_client: MakeClient,
) -> None:
    schema = make_client().get("/api/openapi.json").json()
    assert "trace_id" in schema["components"]["schemas"]["RequestView"]["properties"]
    accepted = schema["paths"][SUBMIT]["post"]["responses"]["202"]
    assert "traceparent" in accepted["headers"]


def test_the_batch_span_links_to_each_request_s_trace_and_has_no_parent(spans: InMemorySpanExporter) -> None:
    other = new_traceparent()
    requests = [
        replace(a_request(), traceparent=TRACEPARENT),
        a_request(),
        replace(a_request(), traceparent=other),
    ]
    with batch_context([Delivery(str(n), request, 1) for n, request in enumerate(requests)]):
        pass
    [span] = spans.get_finished_spans()
    assert span.parent is None
    assert [f"{link.context.trace_id:032x}" for link in span.links] == [TRACE_ID, other.split("-")[1]]


def test_a_batch_is_one_info_line_naming_its_requests_and_their_traces(
    caplog: pytest.LogCaptureFixture,
) -> None:
    requests = [replace(a_request(), traceparent=TRACEPARENT), a_request()]
    with (
        caplog.at_level(logging.DEBUG, "entrypoints.worker"),
        batch_context([Delivery(str(n), request, 1) for n, request in enumerate(requests)]),
    ):
        pass
    [line] = [record for record in caplog.records if record.levelno >= logging.INFO]
    assert line.getMessage() == "batch requeued"  # no report given: it raised
    assert line.__dict__["request_ids"] == [str(request.id) for request in requests]
    assert line.__dict__["trace_ids"] == [TRACE_ID, None]


def test_the_redis_codec_keeps_the_trace_id_and_reads_records_from_before_it() -> None:
    record = RequestRecord.queued(replace(a_request(), traceparent=TRACEPARENT))
    assert decode_record(encode_record(record)).trace_id == TRACE_ID
    document = json.loads(encode_record(record))
    del document["trace_id"]
    assert decode_record(json.dumps(document)) == replace(record, trace_id=None)


def test_traces_are_exported_only_when_configured_and_a_bad_exporter_is_named() -> None:
    assert configure_tracing("inference-api", {}) is False
    assert (
        configure_tracing(
            "inference-api", {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "x"}
        )
        is False
    )
    with pytest.raises(InvalidSettings, match="OTEL_TRACES_EXPORTER"):
        configure_tracing("inference-api", {"OTEL_TRACES_EXPORTER": "jaeger"})


def submit(client: TestClient, headers: dict[str, str]) -> Any:  # what a TestClient answers
    return client.post(SUBMIT, content=png_bytes(), headers={**headers, "Content-Type": "image/png"})


def result(client: TestClient, sent: Any) -> dict[str, object]:
    request_id = sent.json()["request_id"]
    answer: dict[str, object] = client.get(f"{SUBMIT}/{request_id}/results", params={"wait": 5}).json()
    assert answer["status"] == "succeeded"
    return answer


def test_an_amqp_message_carries_the_traceparent_and_a_forged_one_costs_only_the_trace() -> None:
    request = replace(a_request(), traceparent=TRACEPARENT)
    body, properties = messages.encode(request)
    assert messages.decode(properties, body) == request
    for forged in ["00-nonsense", 42, TRACEPARENT + "-extra"]:
        properties.headers = {**properties.headers, "traceparent": forged}
        assert messages.decode(properties, body) == replace(request, traceparent=None)
