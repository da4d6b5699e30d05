"""Reading a Server-Sent Events stream in tests: the events of `text/event-stream` lines."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Event:
    event: str
    data: dict[str, Any]
    id: str | None


def events(lines: Iterable[str]) -> Iterator[Event]:
    """Each event, as a browser's EventSource dispatches it (comments skipped)."""
    fields: dict[str, str] = {}
    for line in lines:
        if not line:
            if "data" in fields:
                yield Event(fields.get("event", "message"), json.loads(fields["data"]), fields.get("id"))
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
