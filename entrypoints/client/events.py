"""Reading a status stream's Server-Sent Events, shared by the sync and async clients."""

from __future__ import annotations


class EventData:
    """Server-Sent Events read line by line: `feed` gives an event's data once its blank line
    comes (comments and other fields skipped)."""

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> str | None:
        if line.startswith("data:"):
            self._data.append(line[5:].removeprefix(" "))
        elif not line and self._data:
            data, self._data = "\n".join(self._data), []
            return data
        return None
