"""W3C trace context as the core sees it: an opaque `traceparent` string, whose trace id it reads.

The entry points make and parse trace contexts (with OpenTelemetry); the core and the queues only
carry the text, and anything that did not come from us (a message header) is checked here first.
"""

from __future__ import annotations

import re

# version 00: `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`; all-zero ids are invalid.
_TRACEPARENT = re.compile(r"00-(?!0{32})([0-9a-f]{32})-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}")


def valid_traceparent(value: object) -> str | None:
    """`value` if it is a version-00 `traceparent`, else None (a bad one is dropped, not an error)."""
    return value if isinstance(value, str) and _TRACEPARENT.fullmatch(value) else None


def trace_id_of(traceparent: str | None) -> str | None:
    """The 32 hex digits of the trace `traceparent` belongs to; None for none or an invalid one."""
    match = _TRACEPARENT.fullmatch(traceparent) if traceparent else None
    return match.group(1) if match else None
