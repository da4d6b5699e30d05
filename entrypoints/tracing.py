"""W3C trace context and OpenTelemetry spans, at the edges only (the core carries a string).

The OpenTelemetry API is always there; it records nothing until `configure_tracing` installs the
SDK's TracerProvider, which it does only when an exporter is configured (`OTEL_TRACES_EXPORTER`, or
an `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`) and the `otel` extra is installed. Without it, spans are
the API's no-op ones, and a request still gets a valid trace id: its client's, or a new one.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import INVALID_SPAN, Link, NonRecordingSpan, Span, SpanContext, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from entrypoints.startup_errors import InvalidSettings
from inference.trace_context import valid_traceparent

log = logging.getLogger(__name__)

_propagator = TraceContextTextMapPropagator()
# A proxy: it follows the provider `configure_tracing` sets, even when taken before.
_tracer = trace.get_tracer("inference")
# Whether `configure_tracing` set up the SDK: if not, no span would record anything, and requests
# skip OpenTelemetry altogether (its no-op spans cost ~35 µs a request, a few % of the API's CPU).
_recording = False
EXPORTERS = ("otlp", "console", "none")


def configure_tracing(service_name: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Export spans if the environment asks for it; True if it does. The OpenTelemetry variables
    keep their meaning (OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_HEADERS…), except that nothing is
    exported by default: with neither an exporter nor an endpoint, no SDK is set up at all."""
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if exporter not in ("", *EXPORTERS):
        allowed = ", ".join(EXPORTERS)
        raise InvalidSettings(f"OTEL_TRACES_EXPORTER: should be one of {allowed}, not {exporter!r}")
    if exporter == "none" or (not exporter and not endpoint):
        return False
    try:
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
    except ImportError:
        log.warning("traces are configured but not exported: install the otel extra ('.[otel]')")
        return False
    if exporter == "console":
        span_exporter: SpanExporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter()  # endpoint, headers, timeout: from OTEL_EXPORTER_OTLP_*
    # OTEL_SERVICE_NAME, if set, names the service; else the role does.
    attributes = {} if environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service_name}
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(provider)
    global _recording
    _recording = True
    log.info("exporting traces", extra={"exporter": exporter or "otlp"})
    return True


def new_traceparent() -> str:
    """A fresh, sampled W3C trace context: `00-<32 hex>-<16 hex>-01` (never all zeros)."""
    return f"00-{_nonzero_hex(16)}-{_nonzero_hex(8)}-01"


def _nonzero_hex(size: int) -> str:
    # random, not secrets: an id need not be unguessable (W3C trace context asks for randomness,
    # and OpenTelemetry's own ids come from random.getrandbits), and secrets.token_hex is two
    # getrandom() system calls per request.
    while not (value := random.getrandbits(8 * size)):
        pass  # one chance in 2**64 at least
    return f"{value:0{2 * size}x}"


def recording() -> bool:
    """Whether spans are recorded (the SDK is set up): if not, `passed_on` is all a request needs."""
    return _recording


def passed_on(incoming: str | None) -> str:
    """The `traceparent` a request passes on when no span records: its client's, if valid, else new."""
    return valid_traceparent(incoming) or new_traceparent()


def span_context_of(traceparent: str | None) -> SpanContext | None:
    """The (remote) span context a `traceparent` names; None for none or an invalid one."""
    if not traceparent:
        return None
    context = trace.get_current_span(_propagator.extract({"traceparent": traceparent})).get_span_context()
    return context if context.is_valid else None


def traceparent_of(span_context: SpanContext) -> str:
    return f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-{int(span_context.trace_flags):02x}"


@contextmanager
def server_span(incoming: str | None, name: str) -> Iterator[tuple[Span, str]]:
    """A span for an incoming request, under the client's `traceparent` if valid, else under a new
    trace (an invalid header is no error); with it, the `traceparent` to pass on downstream."""
    if not _recording:
        yield INVALID_SPAN, passed_on(incoming)
        return
    parent = span_context_of(incoming) or span_context_of(new_traceparent())
    assert parent is not None
    context = trace.set_span_in_context(NonRecordingSpan(parent), Context())
    with _tracer.start_as_current_span(name, context=context, kind=SpanKind.SERVER) as span:
        own = span.get_span_context()  # the client's or new parent's, without an SDK
        yield span, traceparent_of(own if own.is_valid else parent)


@contextmanager
def batch_span(traceparents: Iterable[str | None], size: int) -> Iterator[Span]:
    """The worker's span for one batch: a new trace, LINKED to each request's context (a span has
    one parent, and a batch serves many requests)."""
    if not _recording:
        yield INVALID_SPAN
        return
    links = [Link(context) for traceparent in traceparents if (context := span_context_of(traceparent))]
    with _tracer.start_as_current_span(
        "process batch",
        context=Context(),
        kind=SpanKind.CONSUMER,
        links=links,
        attributes={"messaging.batch.message_count": size},
    ) as span:
        yield span
